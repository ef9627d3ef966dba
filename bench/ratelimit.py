"""What the rate limit costs a token page: the same 404 page with the limit off and on.

    COS_BENCH_REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/ratelimit.py \
        [--requests 2000]

Without COS_BENCH_REDIS_URL a private redis-server is started. The database is a throwaway
SQLite file; the limit is set high enough never to answer 429. Each figure is the median time
per request over 5 runs of N requests through Flask's test client; the ratio is against the
limit off, measured in the same process.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from cos.local_redis import private_redis
from forms import create_app
from forms.ratelimit import Rate
from pipeline.config import Settings
from pipeline.schema import upgrade


def per_request(client, paths: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for path in paths:
        client.get(path)
    return (time.perf_counter() - start) / len(paths)


def main() -> None:
    """Print the median time per request without and with the limit, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with ExitStack() as stack:
        url = os.environ.get("COS_BENCH_REDIS_URL") or stack.enter_context(private_redis())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = f"sqlite:///{folder / 'cos.db'}"
        upgrade(database)
        settings = Settings(database_url=database, redis_url=url, mail_url="file:///dev/null",
                            mail_from="bench <b@example.org>", base_url="http://127.0.0.1:1",
                            secret_key=secrets.token_hex(32), instance=folder)
        paths = [f"/c/{secrets.token_urlsafe(32)}" for _ in range(args.requests)]
        figures: dict[str, list[float]] = {"limit off": [], "limit on (Redis)": []}
        for _ in range(5):
            for name, rate in (("limit off", Rate(0, 1)),
                               ("limit on (Redis)", Rate(10**9, 60))):
                redis.Redis.from_url(url).flushdb()
                app = create_app(settings)
                app.config["COS_RATE_LIMITS"] = {"token": rate}
                figures[name].append(per_request(app.test_client(), paths))
        base = statistics.median(figures["limit off"])
        for name, times in figures.items():
            median = statistics.median(times)
            print(f"{name:18} {median * 1000:7.3f} ms/request  x{median / base:.2f}")


if __name__ == "__main__":
    main()
