"""Growth: the weekly loop's cost per person for coalitions of 100 to 100,000 people, each
size against the smallest, measured in the same run.

    .venv/bin/python bench/growth.py [--sizes 100,1000,10000,100000] [--stages ...]
        [--answer-share 0.02] [--per-organisation 10] [--database-url postgresql://...]

For each size a fresh scratch instance (SQLite in a temporary folder, or a new database on the
PostgreSQL server of --database-url; a private Redis; a counting aiosmtpd on loopback) runs
the loop a coalition runs every week, each step as its own process:

  load    `cos load` of a coalition file (a lead per 100 organisations), `cos people import`
          of a CSV of the partners (--per-organisation people per organisation), then
          `cos load` of the file with one commitment per organisation and five metrics
  start   `cos campaign start`, the command alone
  fanout  from `cos campaign start` being run to every invitation accepted by the SMTP
          server, one `cos worker` (as bench/fanout.py and issue 9 count it: the command's
          own time is in it, since a worker sends while the command still runs; a small
          coalition's emails are all out before the command returns)
  answer  --answer-share of the people answer as the form's POST does (open the check-in by its
          token, record the answers, announce them, queue the merge), in one process
  merge   from the last answer queued to every answer merged by that worker
  close   `cos campaign close` (merges what is left, builds and sends the digest to the leads)
  digest  `cos digest --out`, the digest built again and written to a file

Figures per stage and in total: seconds, milliseconds per person, the ratio of that to the
smallest size's (goal, issue 9: within 1.5x), the marginal cost per person between this size
and the one before (start-up costs cancel out, so a stage that grows faster than linear shows
here first), and the peak resident set size of the stage's processes: each process's
ru_maxrss as returned by wait4(2), which for the worker covers the job children it forked
(goal: grows by under 200 MB from the smallest size).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import COS, ROOT, instance, machine, smtp_server  # noqa: E402

STAGES = ("load", "start", "fanout", "answer", "merge", "close", "digest")
SLUG = "growth"
METRICS = 5


def say(text: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(text, file=sys.stderr, flush=True)


@dataclass
class Run:
    """What one process took: wall seconds and its peak resident set size (KiB)."""

    seconds: float
    maxrss_kib: int
    stdout: str = ""


def run(env: dict[str, str], args: list[str]) -> Run:
    """Run a command, wait for it with wait4 to read its peak RSS; fail loudly."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[2:])} failed ({proc.returncode}):\n{stdout}\n"
                         f"{stderr[-4000:]}")
    return Run(seconds, usage.ru_maxrss, stdout)


def cos(env: dict[str, str], *args: str) -> Run:
    return run(env, [*COS, *args])


def write_inputs(tmp: Path, people: int, per_org: int) -> tuple[Path, Path, Path, int]:
    """Write the coalition file (twice: first without what needs the partners, metrics and
    commitments) and the partners' CSV; return them and the number of organisations."""
    orgs = max(people // per_org, 1)
    leads = max(orgs // 100, 1)
    lines = ["[coalition]", f'slug = "{SLUG}"', 'name = "Growth Coalition"',
             'win = "By December 2027, every household in the region eats well every week."',
             'timezone = "Europe/London"', 'stage = "growth"',
             'lead_organisation = "Organisation 0"', ""]
    for n in range(leads):
        lines += ["[[people]]", f'email = "lead{n}@org{n}.example"', f'name = "Lead {n}"',
                  f'organisation = "Organisation {n}"', 'role = "lead"', ""]
    first = tmp / "growth-first.toml"
    first.write_text("\n".join(lines))
    for n in range(METRICS):
        lines += ["[[metrics]]", f'key = "metric_{n}"', f'name = "Metric {n}"',
                  'unit = "households"', "baseline = 100", "target = 500",
                  'direction = "up"', f'owner = "Organisation {n % orgs}"', ""]
    for n in range(orgs):
        lines += ["[[commitments]]", f'key = "c{n}"', f'owner = "Organisation {n}"',
                  f'text = "Open a Saturday pantry at hall {n}"', "due = 2027-06-30", ""]
    coalition = tmp / "growth.toml"
    coalition.write_text("\n".join(lines))
    csv = tmp / "people.csv"
    with csv.open("w") as f:
        f.write("email,name,organisation,role\n")
        for n in range(people):
            f.write(f"partner{n}@org{n % orgs}.example,Partner {n} O'Brien,"
                    f"Organisation {n % orgs},partner\n")
    return first, coalition, csv, orgs


def answer(database_url: str, redis_url: str, secret_key: str, round_id: int,
           share: float) -> tuple[int, int]:
    """Answer for a share of the invited as the form's POST does; return how many answered,
    and how many times an answer found the database locked (and was tried again)."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import col, select

    from pipeline import webhooks
    from pipeline.checkin import open_checkin, record_answers
    from pipeline.config import Settings
    from pipeline.db import session_scope
    from pipeline.models import Invitation
    from pipeline.queues import enqueue_merge
    from pipeline.tokens import derive_token

    settings = Settings.from_env(require_secret=True)
    with session_scope(database_url, read_only=True) as session:
        salts = session.exec(select(Invitation.salt).where(Invitation.round_id == round_id)
                             .order_by(col(Invitation.id))).all()
    step = max(round(1 / share), 1)
    chosen = salts[::step]
    rng = random.Random(9)
    last = time.monotonic()
    locked = 0
    for n, salt in enumerate(chosen, 1):
        for _attempt in range(10):
            try:
                with session_scope(database_url) as session:
                    checkin = open_checkin(session, derive_token(secret_key, salt))
                    response = record_answers(session, checkin, {
                        "commitments": {str(c.id): {"status": rng.choice(
                            ["on_track", "done", "slipping"]), "note": "ok"}
                            for c in checkin.commitments},
                        "readings": {str(m.id): rng.randint(100, 500) for m in checkin.metrics},
                        "win": f"Win {n}" if rng.random() < 0.3 else "",
                        "blocker": f"Blocker {n}" if rng.random() < 0.2 else "",
                        "pulse": rng.randint(1, 5)})
                    hooks = webhooks.announce_answer(session, response)
                break
            except OperationalError as exc:
                # SQLite: a merge holds the one write lock longer than the busy timeout (5 s).
                # The form would show the partner an error page; the bench counts and retries.
                if "locked" not in str(exc):
                    raise
                locked += 1
        webhooks.queue_quietly(settings, hooks)
        enqueue_merge(settings, round_id)
        if time.monotonic() - last > 10:
            say(f"    answered {n:,} of {len(chosen):,}"
                + (f" ({locked} found the database locked)" if locked else ""))
            last = time.monotonic()
    if locked:
        say(f"    {locked} answers found the database locked by a merge and were tried again")
    return len(chosen), locked


def unmerged(database_url: str, round_id: int) -> int:
    from sqlmodel import col, func, select

    from pipeline.db import session_scope
    from pipeline.models import Response

    with session_scope(database_url, read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(Response).where(
            Response.round_id == round_id, col(Response.merged_at).is_(None))).one())


@contextmanager
def database(url: str | None, tmp: Path) -> Iterator[str]:
    """Yield a fresh database URL: SQLite in tmp, or a new database on url's server."""
    if not url:
        yield f"sqlite:///{tmp / 'cos.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"cos_growth_{os.getpid()}_{int(time.time())}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        from pipeline.db import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stopped(worker: subprocess.Popen[bytes]) -> None:
    """Fail when the worker is gone (without reaping it: wait4 reads its peak RSS later)."""
    try:
        os.kill(worker.pid, 0)
        gone = os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ProcessLookupError:
        gone = True
    if gone:
        raise SystemExit("the worker stopped before its work was done")


@dataclass
class Size:
    """One size's figures: per stage, seconds and peak RSS (KiB) of its processes."""

    people: int
    seconds: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure(size: int, stages: tuple[str, ...], args: argparse.Namespace) -> Size:
    """Run the weekly loop once for a coalition of `size` people."""
    figures = Size(size)
    with tempfile.TemporaryDirectory(prefix="cos-growth-") as scratch, \
            smtp_server() as (host, port, handler):
        tmp = Path(scratch)
        with database(args.database_url, tmp) as db_url, \
                instance(tmp, mail_url=f"smtp://{host}:{port}", database_url=db_url) as env:
            first, coalition, csv, orgs = write_inputs(tmp, size, args.per_organisation)
            say(f"  {size:,} people in {orgs:,} organisations")

            def stage(name: str, result: Run) -> None:
                figures.seconds[name] = figures.seconds.get(name, 0.0) + result.seconds
                figures.rss[name] = max(figures.rss.get(name, 0), result.maxrss_kib)
                say(f"    {name}: {figures.seconds[name]:.1f} s, peak RSS "
                    f"{figures.rss[name] / 1024:.0f} MB")

            # The coalition and its leads, the partners, then the file again with the
            # metrics and commitments the partners report on (a file's owners need partners).
            for step in (["load", str(first)], ["people", "import", SLUG, str(csv)],
                         ["load", str(coalition)]):
                loaded = cos(env, *step)
                if "load" in stages:
                    stage("load", loaded)
            worker = subprocess.Popen([*COS, "worker", "-q"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(3)  # the worker starts, reconciles (nothing) and waits
                handler.reset()
                fanout_start = time.perf_counter()
                started = cos(env, "campaign", "start", SLUG, "--json")
                round_id = json.loads(started.stdout)["campaign"]
                invited = json.loads(started.stdout)["invitations"]
                if "start" in stages:
                    stage("start", started)
                while not handler.wait_for(invited, timeout=10):
                    say(f"    fan-out: {handler.count:,} of {invited:,} accepted")
                    stopped(worker)
                if "fanout" in stages:
                    figures.seconds["fanout"] = time.perf_counter() - fanout_start
                    say(f"    fanout: {figures.seconds['fanout']:.1f} s")
                if "answer" in stages or "merge" in stages:
                    answered = run(env, [sys.executable, __file__, "--answer-helper",
                                         str(round_id), str(args.answer_share)])
                    merge_start = time.perf_counter()
                    figures.notes.append(answered.stdout.strip())
                    if "answer" in stages:
                        stage("answer", answered)
                    last = time.monotonic()
                    while (left := unmerged(db_url, round_id)) > 0:
                        stopped(worker)
                        if time.monotonic() - last > 10:
                            say(f"    merge: {left:,} answers left")
                            last = time.monotonic()
                        time.sleep(0.2)
                    if "merge" in stages:
                        figures.seconds["merge"] = time.perf_counter() - merge_start
                        say(f"    merge: {figures.seconds['merge']:.1f} s")
            finally:
                worker.terminate()
                _, _, usage = os.wait4(worker.pid, 0)
                worker.returncode = 0
            figures.rss["worker"] = usage.ru_maxrss
            closed = cos(env, "campaign", "close", str(round_id), "--json")
            if "close" in stages:
                stage("close", closed)
            if "digest" in stages:
                stage("digest", cos(env, "digest", SLUG, "--round", str(round_id),
                                    "--out", str(tmp / "digest.html")))
    return figures


def table(sizes: list[Size], stages: tuple[str, ...]) -> str:
    """The figures as a Markdown table, one row per stage and size."""
    base = sizes[0]
    lines = ["| stage | people | seconds | ms/person | vs smallest | marginal ms/person "
             "| peak RSS | RSS growth |", "|---|---|---|---|---|---|---|---|"]
    for name in (*stages, "total"):
        prev: Size | None = None
        for s in sizes:
            if name == "total":
                secs = sum(s.seconds.values())
                base_secs = sum(base.seconds.values())
                rss = max([*s.rss.values(), 0])
                base_rss = max([*base.rss.values(), 0])
            elif name in s.seconds:
                secs, base_secs = s.seconds[name], base.seconds[name]
                key = name if name in s.rss else "worker"
                rss, base_rss = s.rss.get(key, 0), base.rss.get(key, 0)
            else:
                continue
            per = secs / s.people * 1000
            ratio = per / (base_secs / base.people * 1000) if base_secs else float("nan")
            if prev is None:
                marginal = "-"
            else:
                prev_secs = (sum(prev.seconds.values()) if name == "total"
                             else prev.seconds[name])
                marginal = f"{(secs - prev_secs) / (s.people - prev.people) * 1000:.3f}"
            where = "" if name in s.rss or name == "total" else " (worker)"
            lines.append(f"| {name} | {s.people:,} | {secs:.1f} | {per:.3f} | {ratio:.2f}x | "
                         f"{marginal} | {rss / 1024:.0f} MB{where} | "
                         f"{(rss - base_rss) / 1024:+.0f} MB |")
            prev = s
    return "\n".join(lines)


def main() -> None:
    """Run each size, then print the table."""
    if len(sys.argv) == 4 and sys.argv[1] == "--answer-helper":
        answered, locked = answer(os.environ["COS_DATABASE_URL"], os.environ["COS_REDIS_URL"],
                                  os.environ["COS_SECRET_KEY"], int(sys.argv[2]),
                                  float(sys.argv[3]))
        print(f"{answered} answers" + (f", {locked} found the database locked" if locked
                                        else ""))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000",
                        help="coalition sizes in people, smallest first (the baseline)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"which stages to report, of {','.join(STAGES)} (all still run "
                             "except answer and merge, which need one of them named)")
    parser.add_argument("--answer-share", type=float, default=0.02,
                        help="the share of people who answer")
    parser.add_argument("--per-organisation", type=int, default=10,
                        help="people per organisation")
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server URL: each size gets a new database there")
    args = parser.parse_args()
    try:
        sizes = sorted(int(n.replace("_", "")) for n in args.sizes.split(","))
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, got {args.sizes!r}")
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        parser.error(f"--stages takes some of {','.join(STAGES)}; unknown: {unknown}")
    if not 0 < args.answer_share <= 1:
        parser.error("--answer-share is a share of the people, above 0 and at most 1")
    if any(n < 10 for n in sizes):
        parser.error("each size is at least 10 people")
    print(f"growth bench: {machine()}; "
          f"database {'PostgreSQL' if args.database_url else 'SQLite'}")
    results = []
    began = time.perf_counter()
    for n in sizes:
        say(f"size {n:,} ({time.perf_counter() - began:.0f} s into the run)")
        results.append(measure(n, stages, args))
    done = ", ".join(f"{s.people:,} ({'; '.join(s.notes)})" for s in results)
    print(f"sizes {done}; "
          f"answer share {args.answer_share:.0%}; "
          f"{args.per_organisation} people per organisation")
    print(table(results, stages))
    print(f"whole run {time.perf_counter() - began:.0f} s; load after: {machine()}")


if __name__ == "__main__":
    main()
