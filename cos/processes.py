"""Processes and threads the development commands start: a worker child, a web server thread."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from cos.local_redis import private_redis, stop_process
from pipeline.config import Settings
from pipeline.queues import find_redis_url


def stop_on_signals() -> None:
    """Make Ctrl-C and SIGTERM raise KeyboardInterrupt, so cleanup code runs.

    Also where a shell started us in the background with SIGINT ignored, and for SIGTERM,
    which would otherwise end the process and orphan the worker and the private Redis.
    """

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@contextmanager
def redis_for(settings: Settings, say: Any = print) -> Iterator[Settings]:
    """Yield settings with a Redis: the configured one, or a private one started here."""
    with ExitStack() as stack:
        url = find_redis_url(settings.redis_url, settings.instance)
        if url is None:
            url = stack.enter_context(private_redis(settings.instance))
            say(f"started a private Redis at {url} (it stops with this command)")
        yield settings.with_(redis_url=url)


def settings_env(settings: Settings) -> dict[str, str]:
    """Return the environment that makes a child `cos` process use these settings."""
    return dict(os.environ, COS_REDIS_URL=settings.redis_url or "",
                COS_SECRET_KEY=settings.secret_key, COS_DATABASE_URL=settings.database_url,
                COS_MAIL_URL=settings.mail_url, COS_MAIL_FROM=settings.mail_from,
                COS_BASE_URL=settings.base_url, COS_INSTANCE_DIR=str(settings.instance),
                COS_MAIL_RATE=str(settings.mail_rate),
                COS_MAIL_CONNECTIONS=str(settings.mail_connections))


@contextmanager
def worker_process(settings: Settings, *, quiet: bool = False
                   ) -> Iterator[subprocess.Popen[bytes]]:
    """Run `cos worker` in a child process for as long as the block lasts."""
    args = [sys.executable, "-m", "cos.cli", "worker"] + (["--quiet"] if quiet else [])
    # Its own process group: a Ctrl-C in the terminal reaches the parent, which stops it.
    child = subprocess.Popen(args, env=settings_env(settings), start_new_session=True)
    try:
        yield child
    finally:
        stop_process(child, timeout=15)  # a warm shutdown lets the current job finish


@contextmanager
def web_server(app: Any, host: str, port: int) -> Iterator[BaseWSGIServer]:
    """Serve a WSGI app from a background thread for as long as the block lasts."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cos-web", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)


def supervise(commands: dict[str, list[str]], env: dict[str, str],
              say: Any = print, grace: float = 20.0) -> int:
    """Run each named command as a child until Ctrl-C, SIGTERM or one of them ends.

    Then every other child gets SIGTERM (a warm shutdown: a worker finishes its job), and
    SIGKILL after `grace` seconds. Returns 0 after a requested stop, else the failed child's
    exit status, so a service manager sees the failure.
    """
    children: dict[str, subprocess.Popen[bytes]] = {}
    stop_on_signals()
    status = 0
    try:
        for name, args in commands.items():
            children[name] = subprocess.Popen(args, env=env, start_new_session=True)
            say(f"started {name} (pid {children[name].pid}): {' '.join(args)}")
        while True:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    say(f"{name} stopped with exit status {code}: stopping the others")
                    return code or 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        say("stopping")
        return status
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within {grace:g} s: killing it")
                child.kill()
                child.wait()
