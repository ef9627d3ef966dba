"""What the benchmarks share: a scratch instance (SQLite, a private Redis), a counting SMTP
server on loopback, the example coalition grown to N people, and the machine's load."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "riverside-food.toml"
COS = [sys.executable, "-m", "cos.cli"]


def compile_project() -> None:
    """Write the project's bytecode, as an installation does (pip compiles what it installs),
    so each `cos` process the bench starts does not compile the project from source: this
    checkout may run with PYTHONDONTWRITEBYTECODE set, which leaves no .pyc behind."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "cos", "pipeline", "emails",
                    "forms"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def machine() -> str:
    """Say what the figures were measured on: cores and load (the machine is shared)."""
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"Python {sys.version.split()[0]}")


class CountingHandler:
    """An SMTP handler that accepts every message and counts them (no parsing)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last = 0.0
        self.done = threading.Condition()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        """Offer PIPELINING, as production servers (Postfix, Exim, the big providers) do:
        aiosmtpd reads pipelined commands in order but does not say so by itself."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Count the message and wake anyone waiting for a total."""
        with self.done:
            self.count += 1
            self.last = time.perf_counter()
            self.first = self.first or self.last
            self.done.notify_all()
        return "250 2.0.0 OK"

    def wait_for(self, total: int, timeout: float) -> bool:
        """Wait until `total` messages arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.done:
            while self.count < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.done.wait(min(left, 1.0))
        return True

    def reset(self) -> None:
        """Start counting again from zero."""
        with self.done:
            self.count, self.first, self.last = 0, None, 0.0


@contextmanager
def smtp_server() -> Iterator[tuple[str, int, CountingHandler]]:
    """Run a counting aiosmtpd server on a free loopback port."""
    from cos.local_redis import free_port

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            data_size_limit=10_000_000)
    controller.start()
    try:
        yield "127.0.0.1", port, handler
    finally:
        controller.stop()


@contextmanager
def instance(tmp: Path, *, mail_url: str = "",
             database_url: str = "") -> Iterator[dict[str, str]]:
    """Yield the environment of a scratch instance: SQLite in tmp (or database_url, an empty
    database), a private Redis."""
    from cos.local_redis import private_redis

    with private_redis() as redis_url:
        env = {**os.environ, "COS_INSTANCE_DIR": str(tmp / "instance"),
               "COS_DATABASE_URL": database_url or f"sqlite:///{tmp / 'cos.db'}",
               "COS_REDIS_URL": redis_url,
               "COS_SECRET_KEY": secrets.token_hex(32), "COS_BASE_URL": "https://cos.example.org",
               "COS_MAIL_FROM": "Riverside <cos@example.org>", "COS_ENV": "production"}
        if mail_url:
            env["COS_MAIL_URL"] = mail_url
        (tmp / "instance").mkdir(parents=True, exist_ok=True)
        cos(env, "init")
        yield env


def cos(env: dict[str, str], *args: str) -> str:
    """Run a cos command in its own process; return its standard output."""
    done = subprocess.run([*COS, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"cos {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def grow_example(env: dict[str, str], tmp: Path, people: int) -> tuple[str, int]:
    """Load the example coalition and add partners up to `people`; return slug and count."""
    cos(env, "load", str(EXAMPLE))
    example = tomllib.loads(EXAMPLE.read_text())
    orgs = sorted({p["organisation"] for p in example["people"]})
    extra = max(people - len(example["people"]), 0)
    rows = ["email,name,organisation,role"] + [
        f"partner{n}@org{n % len(orgs)}.example,Partner {n} O'Brien,{orgs[n % len(orgs)]},partner"
        for n in range(extra)]
    csv = tmp / "people.csv"
    csv.write_text("\n".join(rows) + "\n")
    slug = example["coalition"]["slug"]
    if extra:
        cos(env, "people", "import", slug, str(csv))
    active = sum(1 for p in example["people"] if p.get("active", True))
    return slug, active + extra
