"""The chaos suite's parts, each one the test can break on purpose: a Redis it starts, stops
and restarts empty, an SMTP server it starts late, stops or holds mid-send, and `cos worker`
processes it SIGKILLs (with their RQ work horses).

These tests run on SQLite only (the PostgreSQL ones say so): they are about processes dying,
not about SQL dialects, and the whole step must stay short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from cos.local_redis import free_port, redis_server_binary
from cos.processes import settings_env
from pipeline import db, queues
from pipeline.config import Settings
from pipeline.queues import ping
from pipeline.schema import upgrade
from tests.conftest_smtp import Received, RecordingHandler


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "it") -> Any:
    """Poll until check() is truthy and return it; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


class RedisServer:
    """A redis-server on a fixed loopback port that the test stops and starts again empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.mkdtemp(prefix="cos-chaos-redis-")

    def start(self) -> None:
        """Start it (with nothing in it: no persistence) and wait until it answers."""
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: ping(self.url, timeout=0.2), 10, "redis-server answering")

    def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait until it is gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart_empty(self) -> None:
        """Stop it and start it again on the same port, with every queue and key gone."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class GatedHandler(RecordingHandler):
    """A recording handler that holds an email mid-send until the gate opens: each one while
    `hold` is set, or the `hold_at`-th recipient (counted from 1 over every session: senders
    reuse connections). It holds at RCPT TO (claimed, not yet accepted), or with
    `accept_then_hold` after keeping the message and before saying so (the server has it, the
    sender does not know: the duplicate window)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.gate = threading.Event()
        self.held = threading.Event()
        self.hold_at = 0
        self.accept_then_hold = False
        self.rcpts = 0
        self.held_rcpt = ""

    async def _wait_for_gate(self, address: str) -> None:
        self.held_rcpt = self.held_rcpt or address
        self.held.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.02)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpts += 1
        chosen = self.hold_at and self.rcpts == self.hold_at and not self.gate.is_set()
        if chosen and self.accept_then_hold:
            envelope.cos_hold = True
        elif self.hold.is_set() or chosen:
            await self._wait_for_gate(address)
            if session.transport is None or session.transport.is_closing():
                return "421 4.4.2 the client went away"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if getattr(envelope, "cos_hold", False):
            await self._wait_for_gate(envelope.rcpt_tos[0])
        return reply


class SMTPServer:
    """An aiosmtpd server on a fixed loopback port, which the test may start late or stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.handler = GatedHandler()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def recipients(self) -> list[str]:
        """Every recipient of every message received, sorted (a repeat shows twice)."""
        return sorted(r for m in self.messages for r in m.rcpt_tos)


@pytest.fixture
def chaos_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def chaos_smtp() -> Iterator[SMTPServer]:
    server = SMTPServer()
    yield server
    server.handler.gate.set()
    server.stop()


@pytest.fixture
def chaos(tmp_path: Path, chaos_redis: RedisServer, chaos_smtp: SMTPServer,
          ) -> Iterator[Settings]:
    """Settings on a fresh SQLite database, the test's own Redis and SMTP server."""
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{tmp_path / 'cos.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url, redis_url=chaos_redis.url, mail_url=chaos_smtp.url,
        mail_from="COS Cadence <cos@cadence.test>", base_url=f"http://127.0.0.1:{free_port()}",
        secret_key=secrets.token_hex(32), instance=instance)
    with queues.configured(settings):
        yield settings
    db.dispose_all()


class Workers:
    """`cos worker` processes the test starts and kills; each logs to its own file."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings, self.folder = settings, folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "cos.cli", "worker", *extra],
                                env=settings_env(self.settings), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, index: int = -1) -> str:
        """Return what a worker wrote (the last one started by default)."""
        return (self.folder / f"worker-{index % len(self.procs)}.log").read_text()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and every process it forked (work horse, scheduler) at once.

        The work horse runs in a process group of its own, so it is named by pid; the worker
        is reaped here, the orphans are left to init as after a real crash (or an OOM kill).
        """
        family = [proc.pid, *descendants(proc.pid)]
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


def descendants(pid: int) -> list[int]:
    """Return the pids of every living descendant of a process (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(b")")[2].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


@pytest.fixture
def workers(chaos: Settings, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(chaos, tmp_path)
    yield group
    group.stop_all()


def queues_idle(settings: Settings) -> bool:
    """Say whether no job waits or is scheduled in the project's queues, and no live worker
    is busy (a killed worker's job stays "started" in RQ's registry until RQ cleans it up)."""
    from rq import Worker
    from rq.registry import ScheduledJobRegistry

    conn = redis.Redis.from_url(settings.redis_url or "")
    for name in queues.QUEUES:
        q = queues.queue(name, conn)
        if q.count or ScheduledJobRegistry(queue=q).count:
            return False
    return all(w.get_current_job_id() is None for w in Worker.all(connection=conn)
               if w.pid and pid_alive(w.pid))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
