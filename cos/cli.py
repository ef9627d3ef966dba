"""The `cos` command: set a coalition up, run rounds, read digests, run the worker and the app."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cos.local_redis import RedisUnavailable
from pipeline import queues
from pipeline.coalitions import LoadError, import_people, load_coalition
from pipeline.config import ConfigError, Settings
from pipeline.db import session_scope
from pipeline.rounds import (
    RoundError,
    get_coalition,
    get_round,
    latest_round,
    parse_duration,
    round_status,
    start_round,
)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn the errors people can fix into one clear message and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, LoadError, RoundError, RedisUnavailable,
                queues.QueueUnavailable) as exc:
            raise click.ClickException(str(exc)) from exc
        except OperationalError as exc:
            raise click.ClickException(
                f"the database did not answer or has no tables ({exc.orig}): check "
                "COS_DATABASE_URL, and run `cos init` to create or upgrade the schema") from exc

    return wrapper  # type: ignore[return-value]


def settings(*, require_secret: bool = False) -> Settings:
    """Read the settings, turning configuration problems into a clear CLI error."""
    try:
        return Settings.from_env(require_secret=require_secret)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def safe_url(url: str) -> str:
    """Show a database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url.split("@")[-1]


def require_schema(s: Settings) -> None:
    """Stop with a clear message when `cos init` has not been run."""
    from pipeline.schema import is_current

    if not is_current(s.database_url):
        raise click.ClickException(
            f"the database at {safe_url(s.database_url)} has no COS tables yet: run `cos init`")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens underneath.")
def main(verbose: bool) -> None:
    """COS Cadence: run a coalition's weekly check-in loop."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@friendly
def init() -> None:
    """Create or upgrade the database schema."""
    from pipeline.schema import upgrade

    s = settings()
    upgrade(s.database_url)
    click.echo(f"database ready: {safe_url(s.database_url)}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--prune", is_flag=True,
              help="Deactivate the people, organisations, metrics and commitments the file "
                   "listed before and no longer does (people from a CSV are never touched).")
@click.option("--dry-run", is_flag=True, help="Show what the load would change; change nothing.")
@friendly
def load(file: Path, prune: bool, dry_run: bool) -> None:
    """Create or update one coalition from a TOML file."""
    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        summary = load_coalition(session, file, prune=prune, dry_run=dry_run)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.report())


@main.group()
def people() -> None:
    """Manage a coalition's people."""


@people.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def people_import(slug: str, file: Path) -> None:
    """Add or update people from a CSV with columns email,name,organisation,role."""
    s = settings()
    require_schema(s)
    try:
        content = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not UTF-8 text; save the CSV as UTF-8") from exc
    with session_scope(s.database_url) as session:
        summary = import_people(session, slug, content, str(file))
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.report())


@main.group()
def campaign() -> None:
    """Open, watch and close rounds of check-ins."""


def send_now(s: Settings, delivery_ids: list[int]) -> None:
    """Send ledger rows in this process, showing progress."""
    from pipeline.sending import send_in_process

    with click.progressbar(delivery_ids, label="sending", show_pos=True, file=sys.stderr) as bar:
        outcomes = send_in_process(s, bar)
    for outcome in outcomes:
        if outcome.status in ("failed", "rejected"):
            click.echo(f"  {outcome}", err=True)
    sent = sum(o.status == "sent" for o in outcomes)
    click.echo(f"sent {sent} of {len(outcomes)}", err=True)


@campaign.command("start")
@click.argument("slug")
@click.option("--closes-in", default="72h", show_default=True,
              help="How long the round stays open: 72h, 3d, 90m, 1w.")
@click.option("--force", is_flag=True, help="Open another round even if one is open.")
@click.option("--send-now", "send_now_flag", is_flag=True,
              help="Send the emails from this process instead of a worker.")
@friendly
def campaign_start(slug: str, closes_in: str, force: bool, send_now_flag: bool) -> None:
    """Open a round: one invitation per active partner, emails queued; prints the campaign id."""
    s = settings(require_secret=True)
    require_schema(s)
    duration = parse_duration(closes_in)
    with session_scope(s.database_url) as session:
        opened, delivery_ids = start_round(session, s.secret_key, slug, duration, force=force)
        round_id, number = opened.id or 0, opened.number
    click.echo(round_id)
    click.echo(f"{slug}: round {number} open, {len(delivery_ids)} invitation(s)", err=True)
    if send_now_flag:
        send_now(s, delivery_ids)
        return
    try:
        queues.enqueue_sends(s, delivery_ids)
        click.echo(f"{len(delivery_ids)} email(s) queued for the worker", err=True)
    except queues.QueueUnavailable as exc:
        click.echo(f"warning: the invitations are saved but not queued: {exc}. Once a Redis "
                   "and worker run, `cos reconcile` queues them (or run this with --send-now).",
                   err=True)


@campaign.command("status")
@click.argument("round_id", type=int)
@friendly
def campaign_status_cmd(round_id: int) -> None:
    """Show who was invited, reached, and who answered or is silent."""
    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        status = round_status(session, round_id)
    c = status.round_
    state = "closed" if c.closed_at else f"open until {c.closes_at:%Y-%m-%d %H:%M} UTC"
    click.echo(f"{status.coalition.slug} round {c.number} (campaign {c.id}), {state}")
    rows = status.rows
    failed = status.count("delivery", "failed") + status.count("delivery", "rejected")
    click.echo(f"invited {len(rows)}, delivered {status.count('delivery', 'sent')}, "
               f"failed {failed}, "
               f"answered {status.count('answered')}, "
               f"silent {status.count('answered', False)}")
    for row in rows:
        answer = f"answered ({row['revisions']} revision(s))" if row["answered"] else "silent"
        line = f"  {row['organisation']:<32} {row['name']:<24} {row['delivery']:<8} {answer}"
        if row["error"] and row["delivery"] != "sent":
            line += f"  [{row['error'][:300]}]"
        click.echo(line)


@campaign.command("close")
@click.argument("round_id", type=int)
@friendly
def campaign_close(round_id: int) -> None:
    """Close a round, merge every answer, then build and send the digest to the leads."""
    from pipeline.rounds import finish_round

    s = settings(require_secret=True)
    require_schema(s)
    closed = finish_round(s, round_id)
    report = closed.digest
    click.echo(f"campaign {round_id} closed; {closed.answers} answer(s) merged")
    for to in report.sent:
        click.echo(f"digest sent to {to}")
    if report.skipped:
        click.echo(f"digest already sent to {report.skipped} lead(s) before")
    if not (report.sent or report.skipped or report.failed):
        click.echo("no active lead to send the digest to: add people with role lead")
    if report.failed:
        for problem in report.failed:
            click.echo(f"digest not sent: {problem}", err=True)
        raise click.ClickException("some digests were not sent; fix the problem and run "
                                   "`cos digest SLUG --send` to send the rest")


@main.command()
@click.argument("slug")
@click.option("--round_", "round_id", type=int, help="The round (default: the latest).")
@click.option("--send", is_flag=True, help="Send it to the leads who have not had it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML version to this file.")
@friendly
def digest(slug: str, round_id: int | None, send: bool, out: Path | None) -> None:
    """Build a round's digest again, to send or to look at."""
    from pipeline.digest import render_digest, send_digest

    if send == bool(out):
        raise click.UsageError("give exactly one of --send or --out FILE.html")
    s = settings(require_secret=send)
    require_schema(s)
    with session_scope(s.database_url) as session:
        coalition = get_coalition(session, slug)
        chosen = get_round(session, round_id) if round_id else latest_round(
            session, coalition)
        if chosen is None or chosen.coalition_id != coalition.id:
            raise click.ClickException(f"{slug} has no such campaign; start one first")
        target = chosen.id or 0
        if out:
            rendered = render_digest(session, s, target)
    if out:
        out.write_text(rendered.html, encoding="utf-8")
        click.echo(f"digest for campaign {target} written to {out}")
        return
    report = send_digest(s, target)
    for to in report.sent:
        click.echo(f"digest sent to {to}")
    if report.skipped:
        click.echo(f"already sent to {report.skipped} lead(s) for this round (sent once only)")
    for problem in report.failed:
        click.echo(f"digest not sent: {problem}", err=True)
    if report.failed:
        raise click.ClickException("some digests were not sent")


@main.command()
@friendly
def reconcile() -> None:
    """Merge answers left unmerged and re-queue emails not sent (after Redis was down)."""
    from pipeline.reconcile import reconcile as sweep

    s = settings(require_secret=True)
    require_schema(s)
    report = sweep(s)
    click.echo(f"merged {len(report.merged)} round(s) with unmerged answers"
               + (f": {', '.join(map(str, report.merged))}" if report.merged else ""))
    click.echo(f"queued {report.queued_emails} email(s)")
    if report.queue_problem:
        raise click.ClickException(report.queue_problem)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork).")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors.")
@friendly
def worker(burst: bool, simple: bool, quiet: bool) -> None:
    """Run an RQ worker on the project's queues."""
    from pipeline.reconcile import reconcile
    from pipeline.workers import JobIdFilter, run_worker

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s [%(job_id)s] %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(JobIdFilter())
    s = settings(require_secret=True)
    require_schema(s)
    s = s.with_(redis_url=queues.redis_url(s))
    report = reconcile(s)
    if report.merged or report.queued_emails:
        click.echo(f"reconciled: merged rounds {report.merged}, queued "
                   f"{report.queued_emails} email(s)", err=True)
    run_worker(s, burst=burst, simple=simple)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-worker", is_flag=True, help="Do not start a worker alongside.")
@friendly
def serve(host: str, port: int, no_worker: bool) -> None:
    """Run the web app for development (production: gunicorn wsgi:app)."""
    from cos.processes import redis_for, stop_on_signals, worker_process
    from forms import create_app

    s = settings(require_secret=True)
    require_schema(s)
    if not os.environ.get("COS_BASE_URL"):
        s = s.with_(base_url=f"http://{host}:{port}")
    with ExitStack() as stack:
        s = stack.enter_context(redis_for(s, say=lambda m: click.echo(m, err=True)))
        if not no_worker:
            stack.enter_context(worker_process(s))
        app = create_app(s, dev_outbox=s.mail_url.startswith("file://"))
        if app.config["COS_DEV_OUTBOX"]:
            click.echo(f"local outbox: {s.base_url}/dev/outbox/", err=True)
        stop_on_signals()
        try:
            app.run(host=host, port=port, use_reloader=False)
        except KeyboardInterrupt:
            click.echo("stopping", err=True)


@main.command()
@click.option("--no-serve", is_flag=True, help="Stop after the round instead of serving.")
@click.option("--port", default=0, help="Port for the web app (default: a free one).")
@click.option("--file", "coalition_file", type=click.Path(exists=True, path_type=Path),
              help="The coalition file to load (default: the example).")
@friendly
def demo(no_serve: bool, port: int, coalition_file: Path | None) -> None:
    """Run one whole round on embedded defaults, then keep the app running to look around."""
    from cos.demo import run_demo

    run_demo(no_serve=no_serve, port=port, coalition_file=coalition_file)


if __name__ == "__main__":
    main()
