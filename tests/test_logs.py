"""COS_LOG_FORMAT=json: one JSON object per line, naming the job, the round and the coalition."""

from __future__ import annotations

import json
import subprocess
import sys

from cos.processes import settings_env
from pipeline import queues
from tests.helpers import load, open_round


def test_a_json_worker_log_line_carries_its_job_and_round(settings, redis_conn):
    load(settings)
    round_id, _ = open_round(settings)
    queues.enqueue_merge(settings, round_id)
    env = {**settings_env(settings), "COS_LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-m", "cos.cli", "worker", "--burst"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert records, done.stderr
    assert all({"time", "level", "logger", "message", "job_id", "round_id", "coalition"}
               <= set(r) for r in records)
    merged = next(r for r in records if r["message"].startswith(f"merged round {round_id}"))
    assert merged["round_id"] == round_id
    assert merged["job_id"].startswith(f"merge-{round_id}")
