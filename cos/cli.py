"""The `cos` command: set a coalition up, run rounds, read digests, run the worker and the app."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime
from functools import wraps
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.core.display import delivery_state, format_local_short, iso_utc, plural
from pipeline.errors import FixableError

if TYPE_CHECKING:
    from pipeline.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn the errors people can fix into one clear message and exit status 1.

    It names no module that raises them, so `cos --help` loads none of the heavy ones.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FixableError as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            sa_exc = sys.modules.get("sqlalchemy.exc")  # loaded if the database was used
            if sa_exc is not None and isinstance(exc, sa_exc.OperationalError):
                raise click.ClickException(
                    f"the database did not answer or has no tables ({exc.orig}): check "
                    "COS_DATABASE_URL, and run `cos init` to create or upgrade the "
                    "schema") from exc
            raise

    return wrapper  # type: ignore[return-value]


def settings(*, require_secret: bool = False, require_mail: bool = False,
             development: bool = False, announce: bool = True) -> Settings:
    """Read the settings, turning configuration problems into a clear CLI error.

    With announce, say on stderr which database, Redis and mail transport the command uses,
    so a command run from another directory never quietly works on another database.
    """
    from pipeline.config import ConfigError, Settings

    try:
        s = Settings.from_env(require_secret=require_secret, require_mail=require_mail,
                              development=development)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if announce:
        say_settings(s)
    return s


def say_settings(s: Settings) -> None:
    """Print the start-up line: where data, jobs and mail go."""
    click.echo(f"using {s.describe()}", err=True)


def safe_url(url: str) -> str:
    """Show a database URL without its password."""
    from pipeline.config import hide_password

    return hide_password(url)


def require_schema(s: Settings) -> None:
    """Stop with a clear message when `cos init` has not been run."""
    from pipeline.schema import is_current

    if not is_current(s.database_url):
        raise click.ClickException(
            f"the database at {safe_url(s.database_url)} has no COS tables yet: run `cos init`")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def echo_json(data: Any) -> None:
    """Print one JSON document on stdout, every time in UTC ISO 8601 with a Z."""
    click.echo(json.dumps(data, default=_json_value, ensure_ascii=False, indent=2))


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document (times in UTC) instead of text.")
ROUND_REF = "ID|SLUG"  # a campaign id, or a coalition's slug for its open round


class PeopleGroup(click.Group):
    """`cos people SLUG` lists a coalition's people; `cos people import ...` and others act."""

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "list", self.commands["list"], args
        return super().resolve_command(ctx, args)


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens underneath.")
@click.version_option(version("cos-cadence"), "-V", "--version", prog_name="cos")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """COS Cadence: run a coalition's weekly check-in loop."""
    from cos.logs import setup_logging

    setup_logging(logging.INFO if verbose else logging.WARNING)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


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
    from pipeline.coalitions import load_coalition
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        summary = load_coalition(session, file, prune=prune, dry_run=dry_run)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.report())


@main.group(cls=PeopleGroup)
def people() -> None:
    """Manage a coalition's people."""


@people.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def people_import(slug: str, file: Path) -> None:
    """Add or update people from a CSV with columns email,name,organisation,role."""
    from pipeline.coalitions import LoadError, import_people
    from pipeline.core.text import UnreadableText, decode_file_text
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    try:
        content = decode_file_text(file.read_bytes(), "the CSV")
    except UnreadableText as exc:
        raise LoadError(str(file), [str(exc)]) from exc
    with session_scope(s.database_url) as session:
        summary = import_people(session, slug, content, str(file))
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.report())


@main.group()
def campaign() -> None:
    """Open, watch and close rounds of check-ins."""


def send_now(s: Settings, delivery_ids: list[int]) -> int:
    """Send ledger rows in this process, showing progress; return how many were sent."""
    from pipeline.sending import send_in_process

    with click.progressbar(delivery_ids, label="sending", show_pos=True, file=sys.stderr) as bar:
        outcomes = send_in_process(s, bar)
    for outcome in outcomes:
        if outcome.status in ("failed", "rejected"):
            click.echo(f"  {outcome}", err=True)
    sent = sum(o.status == "sent" for o in outcomes)
    click.echo(f"sent {sent} of {len(outcomes)}", err=True)
    return sent


def deliver(s: Settings, delivery_ids: list[int], send_now_flag: bool) -> dict[str, int]:
    """Send the emails now or queue them for a worker; return how many went each way."""
    from pipeline import queues

    if send_now_flag:
        sent = send_now(s, delivery_ids)
        return {"sent": sent, "not_sent": len(delivery_ids) - sent}
    try:
        queued = queues.enqueue_sends(s, delivery_ids)
        click.echo(f"{plural(queued, 'email')} queued for the worker", err=True)
        return {"queued": queued}
    except queues.QueueUnavailable as exc:
        click.echo(f"warning: the invitations are saved but not queued: {exc}. Once a Redis "
                   "and worker run, `cos reconcile` queues them (or run this with --send-now).",
                   err=True)
        return {"queued": 0, "waiting": len(delivery_ids)}


def refuse_unsent(emails: dict[str, int]) -> None:
    """Exit non-zero when --send-now left emails unsent, saying how to finish the job."""
    if emails.get("not_sent"):
        total = emails["not_sent"] + emails.get("sent", 0)
        raise click.ClickException(
            f"{emails['not_sent']} of {plural(total, 'email')} not sent (see above); "
            "`cos campaign status` shows each one, and a running `cos worker` (or "
            "`cos reconcile`) retries the temporary failures")


def check_mail(s: Settings) -> None:
    """Stop before anything is opened when mail cannot go out (connect and greet, no message)."""
    from emails import DeliveryError, backend_from_url

    backend = backend_from_url(s.mail_url)
    try:
        backend.check()
    except DeliveryError as exc:
        raise click.ClickException(
            f"mail cannot go out, so nothing was opened: {exc}") from exc


@campaign.command("start")
@click.argument("slug")
@click.option("--closes-in", default="72h", show_default=True,
              help="How long the round stays open: 72h, 3d, 90m, 1w.")
@click.option("--force", is_flag=True, help="Open another round even if one is open.")
@click.option("--send-now", "send_now_flag", is_flag=True,
              help="Send the emails from this process instead of a worker.")
@click.option("--kind", type=click.Choice(["checkin", "readiness", "win-echo"]),
              default="checkin", show_default=True,
              help="The weekly check-in, the readiness check, or the win from memory.")
@json_option
@friendly
def campaign_start(slug: str, closes_in: str, force: bool, send_now_flag: bool,
                   as_json: bool, kind: str = "checkin") -> None:
    """Open a round: one invitation per active partner, emails queued; prints the campaign id."""
    from pipeline.db import session_scope
    from pipeline.rounds import parse_duration, start_round

    s = settings(require_secret=True, require_mail=True)
    require_schema(s)
    duration = parse_duration(closes_in)
    check_mail(s)
    with session_scope(s.database_url) as session:
        opened, delivery_ids = start_round(session, s.secret_key, slug, duration, force=force,
                                           kind=kind)
        round_id, number = opened.id or 0, opened.number
        result = {"campaign": round_id, "coalition": slug, "round": number, "kind": kind,
                  "opened_at": opened.opened_at, "closes_at": opened.closes_at,
                  "invitations": len(delivery_ids)}
    if not as_json:
        click.echo(round_id)
    click.echo(f"{slug}: round {number} open, {plural(len(delivery_ids), 'invitation')}", err=True)
    emails = deliver(s, delivery_ids, send_now_flag)
    if as_json:
        echo_json({**result, "emails": emails})
    refuse_unsent(emails)


@campaign.command("status")
@click.argument("round_ref", metavar=ROUND_REF)
@json_option
@friendly
def campaign_status_cmd(round_ref: str, as_json: bool) -> None:
    """Show who was invited, reached, and who answered or is silent (ID, or SLUG's open round)."""
    from pipeline.db import session_scope
    from pipeline.rounds import resolve_round, round_status

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        status = round_status(session, resolve_round(session, round_ref).id or 0)
    from pipeline.lifecycle import reminder_summary, round_state

    with session_scope(s.database_url, read_only=True) as session:
        lifecycle = round_state(session, status.round_)
        reminders = reminder_summary(session, status.round_.id or 0)
    c, tz = status.round_, status.coalition.timezone
    rows = status.rows
    counts = status.counts()
    failed = counts["failed"]
    said = status.said()
    excused = said["not_this_week"]
    if as_json:
        echo_json({"campaign": c.id, "coalition": status.coalition.slug, "round": c.number,
                   "state": str(lifecycle), "period": c.period_key, "paused_at": c.paused_at,
                   "pause_reason": c.pause_reason or None, "cancelled_at": c.cancelled_at,
                   "timezone": tz, "opened_at": c.opened_at, "closes_at": c.closes_at,
                   "closed_at": c.closed_at, "counts": counts, "people_said": said,
                   "reminders": reminders,
                   "people": rows, "left_out": status.left_out})
        return
    if c.cancelled_at:
        state = f"cancelled {format_local_short(c.cancelled_at, tz)}"
    elif c.closed_at:
        state = f"closed {format_local_short(c.closed_at, tz)}"
    else:
        state = f"open until {format_local_short(c.closes_at, tz)}"
        if lifecycle == "paused":  # sending shows in each person's email column
            state += f" ({lifecycle}" + (f": {c.pause_reason}" if c.pause_reason else "") + ")"
    click.echo(f"{status.coalition.slug} round {c.number} (campaign {c.id}), {state}")
    click.echo(f"invited {len(rows)}, delivered {counts['delivered']}, failed {failed}, "
               f"answered {counts['answered']}, silent {counts['silent']}"
               + "".join(f", {key.replace('_', ' ')} {n}"
                         for key, n in {"not_this_week": excused, "revoked": counts["revoked"],
                                        "bounced": said["bounced"],
                                        "opted_out": said["opted_out"]}.items() if n))
    for tally in reminders:
        click.echo(f"reminder {tally.reminder}: " + ", ".join(
            f"{n} {word}" for word, n in tally.statuses.items()))
    for row in rows:
        answer = (f"answered ({plural(row['revisions'], 'revision')})" if row["answered"]
                  else "not this week" if row["not_this_week"] else "silent")
        if row["opted_out"]:
            answer += ", opted out"
        email = "link revoked" if row.get("revoked") else delivery_state(
            row["delivery"], attempts=row["attempts"], retry_at=row["retry_at"],
            via=row["via"], timezone=tz)
        line = f"  {row['organisation']:<32} {row['name']:<24} {answer:<28} {email}"
        if row["error"] and row["delivery"] != "sent" and not row.get("revoked"):
            line += f"  [{row['error'][:300]}]"
        click.echo(line)
    if status.conflicts:
        from emails.format import quantity, status_label

        click.echo("partners disagree (the scoreboard shows the latest answer):")
        for conflict in status.conflicts:
            click.echo(f"  {conflict['owner']}: {conflict['subject']}")
            for said in conflict["answers"]:
                value = (status_label(said["status"]) if said["status"]
                         else quantity(said["value"], conflict["unit"]))
                shown = "  (shown)" if said["kept"] else ""
                click.echo(f"    {said['person']:<24} {value:<16} {said['submitted_at']}{shown}")
    for item in status.left_out:
        click.echo(f"answers left out of the merge: {item['name']}: {item['why']}")


@campaign.command("close")
@click.argument("round_ref", metavar=ROUND_REF)
@json_option
@friendly
def campaign_close(round_ref: str, as_json: bool) -> None:
    """Close a round (ID, or SLUG's open round), merge every answer, send the digest to leads."""
    from pipeline.db import session_scope
    from pipeline.models import Coalition
    from pipeline.rounds import finish_round, get_round, resolve_round

    s = settings(require_secret=True, require_mail=True)
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        round_id = resolve_round(session, round_ref).id or 0
    closed = finish_round(s, round_id)
    report = closed.digest
    with session_scope(s.database_url, read_only=True) as session:
        round_ = get_round(session, round_id)
        coalition = session.get(Coalition, round_.coalition_id)
        assert coalition is not None
    if as_json:
        echo_json({"campaign": round_id, "coalition": coalition.slug, "round": round_.number,
                   "closed_at": round_.closed_at, "answers": closed.answers,
                   "digest": {"sent": report.sent, "skipped": report.skipped,
                              "failed": report.failed},
                   "merge_problem": closed.merge_problem or None, "left_out": closed.skipped})
    else:
        at = format_local_short(round_.closed_at or round_.closes_at, coalition.timezone)
        merged = ("but its answers could not be merged" if closed.merge_problem
                  else f"{plural(closed.answers, 'answer')} merged")
        click.echo(f"campaign {round_id} ({coalition.slug} round {round_.number}) closed "
                   f"{at}; {merged}")
        say_left_out({round_id: closed.skipped})
        for to in report.sent:
            click.echo(f"digest sent to {to}")
        if report.skipped:
            click.echo(f"digest already sent to {plural(report.skipped, 'lead')} before")
        if not (report.sent or report.skipped or report.failed):
            click.echo("no active lead to send the digest to: add people with role lead")
        for problem in report.failed:
            click.echo(f"digest not sent: {problem}", err=True)
    if closed.merge_problem:
        raise click.ClickException(
            f"the merge failed ({closed.merge_problem}), so no digest was sent. The round is "
            f"closed and every answer is kept: fix the cause, then run `cos reconcile` and "
            f"`cos digest {coalition.slug} --round {round_id} --send`")
    if report.failed:
        raise click.ClickException("some digests were not sent; fix the problem and run "
                                   "`cos digest SLUG --send` to send the rest")


@main.command()
@click.argument("slug")
@click.option("--round", "round_ref", metavar=ROUND_REF,
              help="The round: a campaign id (default: the latest round).")
@click.option("--campaign", "campaign_ref", hidden=True)  # the README's first spelling
@click.option("--send", is_flag=True, help="Send it to the leads who have not had it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML version to this file.")
@json_option
@friendly
def digest(slug: str, round_ref: str | None, campaign_ref: str | None, send: bool,
           out: Path | None, as_json: bool) -> None:
    """Build a round's digest again, to send or to look at."""
    from pipeline.db import session_scope
    from pipeline.digest import render_digest, send_digest
    from pipeline.rounds import get_coalition, latest_round, resolve_round

    if send == bool(out):
        raise click.UsageError("give exactly one of --send or --out FILE.html")
    if round_ref and campaign_ref:
        raise click.UsageError("give the round once, with --round")
    round_ref = round_ref or campaign_ref
    s = settings(require_secret=send, require_mail=send)
    require_schema(s)
    with session_scope(s.database_url) as session:
        coalition = get_coalition(session, slug)
        chosen = resolve_round(session, round_ref) if round_ref else latest_round(
            session, coalition)
        if chosen is None:
            raise click.ClickException(f"{slug} has no such campaign; start one first")
        if chosen.coalition_id != coalition.id:
            raise click.ClickException(f"campaign {chosen.id} is not a round of {slug} "
                                       f"(`cos campaigns {slug}` lists its rounds)")
        target = chosen.id or 0
        if out:
            rendered = render_digest(session, s, target)
    if out:
        out.write_text(rendered.html, encoding="utf-8")
        if as_json:
            echo_json({"campaign": target, "coalition": slug, "out": str(out)})
        else:
            click.echo(f"digest for campaign {target} written to {out}")
        return
    report = send_digest(s, target)
    if as_json:
        echo_json({"campaign": target, "coalition": slug, "sent": report.sent,
                   "skipped": report.skipped, "failed": report.failed})
        if report.failed:
            raise click.ClickException("some digests were not sent")
        return
    for to in report.sent:
        click.echo(f"digest sent to {to}")
    if report.skipped:
        click.echo(f"already sent to {plural(report.skipped, 'lead')} for this round "
                   "(sent once only)")
    for problem in report.failed:
        click.echo(f"digest not sent: {problem}", err=True)
    if report.failed:
        raise click.ClickException("some digests were not sent")


@main.command("scoreboard")
@click.argument("slug")
@click.option("--round", "number", type=int, metavar="N",
              help="The coalition's round number (default: the latest round).")
@json_option
@friendly
def scoreboard_cmd(slug: str, number: int | None, as_json: bool) -> None:
    """Print a round's one-page scoreboard: phase state, what slipped, moves, metrics."""
    from sqlmodel import select

    from pipeline.core.onepage import one_page_text
    from pipeline.cos_model import one_page_view
    from pipeline.db import session_scope
    from pipeline.models import Round
    from pipeline.rounds import get_coalition, latest_round

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        coalition = get_coalition(session, slug)
        chosen = latest_round(session, coalition) if number is None else session.exec(
            select(Round).where(Round.coalition_id == coalition.id,
                                Round.number == number)).first()
        if chosen is None:
            which = "no rounds yet" if number is None else f"no round {number}"
            raise click.ClickException(f"{slug} has {which} (`cos campaigns {slug}` lists "
                                       "them)")
        view = one_page_view(session, chosen)
    if as_json:
        echo_json(view)
    else:
        click.echo(one_page_text(view), nl=False)


@main.command("worksheet")
@click.argument("kind", type=click.Choice(["readiness", "win", "scoreboard"]))
@click.argument("slug")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file to write.")
@friendly
def worksheet_cmd(kind: str, slug: str, out: Path) -> None:
    """Write a printable worksheet: the readiness check, the win sentence or the scoreboard."""
    from forms.worksheets import render_worksheet
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:  # a round never merged gets its snapshot
        try:
            html = render_worksheet(session, kind, slug)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    out.write_text(html, encoding="utf-8")
    click.echo(f"{kind} worksheet for {slug} written to {out}")


@main.command("funder-link")
@click.argument("slug")
@click.option("--new", is_flag=True, help="Make a new link; the old one stops working.")
@click.option("--revoke", is_flag=True, help="Turn the funder page off.")
@friendly
def funder_link_cmd(slug: str, new: bool, revoke: bool) -> None:
    """Print the coalition's read-only funder page link (made on first use)."""
    from pipeline.db import session_scope
    from pipeline.funder import funder_link

    if new and revoke:
        raise click.UsageError("give at most one of --new or --revoke")
    s = settings(require_secret=True)
    require_schema(s)
    with session_scope(s.database_url) as session:
        link = funder_link(session, s.base_url, s.secret_key, slug, new=new, revoke=revoke)
    if link is None:
        click.echo(f"{slug}: the funder page is off; `cos funder-link {slug}` makes a new link",
                   err=True)
        return
    click.echo(link)


@main.group("echo")
def echo_group() -> None:
    """Win-echo marks: list each answer's mark, or set a lead's mark over the suggestion."""


def _echo_round(session: Any, slug: str, number: int | None) -> tuple[Any, Any]:
    from sqlmodel import col, select

    from pipeline.models import EchoMark, Round
    from pipeline.rounds import get_coalition

    coalition = get_coalition(session, slug)
    query = select(Round).where(Round.coalition_id == coalition.id)
    if number is None:
        query = query.where(col(Round.id).in_(select(EchoMark.round_id)))
    else:
        query = query.where(Round.number == number)
    chosen = session.exec(query.order_by(col(Round.number).desc())).first()
    if chosen is None:
        raise click.ClickException(
            f"{slug} has no round {number}" if number is not None
            else f"{slug} has no win-echo answers yet (`cos campaign start {slug} --kind "
                 "win-echo` asks for them)")
    return coalition, chosen


@echo_group.command("list")
@click.argument("slug")
@click.option("--round", "number", type=int, metavar="N",
              help="The round number (default: the latest with win-echo answers).")
@json_option
@friendly
def echo_list(slug: str, number: int | None, as_json: bool) -> None:
    """List a round's win-echo answers with the suggested mark, the lead's and why."""
    from pipeline.cos_model import echo_answers
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        _, chosen = _echo_round(session, slug, number)
        rows = echo_answers(session, chosen.id)
    if as_json:
        echo_json({"coalition": slug, "round": chosen.number, "answers": rows})
        return
    for r in rows:
        by = " (set by a lead)" if r["override"] else ""
        click.echo(f"{r['mark']:<8}{by} {r['name']} <{r['email']}>: {r['answer']}")
        click.echo(f"         suggested {r['suggested']}: {r['reason']}")
    if not rows:
        click.echo(f"no win-echo answers in round {chosen.number}")


@echo_group.command("mark")
@click.argument("slug")
@click.argument("email")
@click.argument("mark", type=click.Choice(["match", "partial", "off", "clear"]))
@click.option("--round", "number", type=int, metavar="N",
              help="The round number (default: the latest with win-echo answers).")
@friendly
def echo_mark(slug: str, email: str, mark: str, number: int | None) -> None:
    """Set a lead's mark on one person's win-echo answer ("clear" goes back to the suggestion)."""
    from pipeline.cos_model import override_echo_mark
    from pipeline.db import session_scope
    from pipeline.rounds import find_person

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        coalition, chosen = _echo_round(session, slug, number)
        person, _ = find_person(session, coalition, email)
        if person is None:
            raise click.ClickException(f"nobody in {slug} has the address {email}")
        try:
            row = override_echo_mark(session, chosen, person, None if mark == "clear" else mark)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        said = f"{row.mark} (suggested {row.suggested})"
    click.echo(f"{slug} round {chosen.number}: {email} marked {said}")


@main.command()
@json_option
@friendly
def reconcile(as_json: bool) -> None:
    """Merge answers left unmerged and re-queue emails not sent (after Redis was down)."""
    from pipeline.reconcile import reconcile as sweep

    s = settings(require_secret=True)
    require_schema(s)
    report = sweep(s)
    if as_json:
        echo_json({"merged": report.merged, "queued_emails": report.queued_emails,
                   "queued_webhooks": report.queued_webhooks,
                   "queue_problem": report.queue_problem or None,
                   "failed": report.failed, "left_out": report.skipped})
    else:
        click.echo(f"merged {plural(len(report.merged), 'round')} with unmerged answers"
                   + (f": {', '.join(map(str, report.merged))}" if report.merged else ""))
        click.echo(f"queued {plural(report.queued_emails, 'email')}")
        if report.queued_webhooks:
            click.echo(f"queued {plural(report.queued_webhooks, 'webhook message')}")
        say_left_out(report.skipped)
    problems = [f"round {rid} (campaign {rid}) could not be merged: {why}"
                for rid, why in report.failed.items()]
    if report.queue_problem:
        problems.append(report.queue_problem)
    if problems:
        raise click.ClickException("; ".join(problems) + ". Everything else was done; "
                                   "run `cos reconcile` again once it is fixed")


def say_left_out(skipped: dict[int, dict[str, str]]) -> None:
    """Tell the admin about answers a merge could not read (the rest of the round merged)."""
    for round_id, people in skipped.items():
        for name, why in people.items():
            click.echo(f"warning: campaign {round_id}: left out the answers of {name}: {why}",
                       err=True)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork).")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors.")
@click.option("--with-scheduler", "with_scheduler", is_flag=True,
              help="Also tick the cadence scheduler every minute (any number may run).")
@friendly
def worker(burst: bool, simple: bool, quiet: bool, with_scheduler: bool = False) -> None:
    """Run an RQ worker on the project's queues."""
    from cos.logs import setup_logging
    from pipeline import queues
    from pipeline.reconcile import enqueue_reconcile, reconcile
    from pipeline.workers import run_worker

    setup_logging(logging.WARNING if quiet else logging.INFO, own_process=True)
    s = settings(require_secret=True, require_mail=True, announce=False)
    require_schema(s)
    s = s.with_(redis_url=queues.redis_url(s))
    say_settings(s)

    def sweep(when: str = "start-up") -> None:
        try:
            report = reconcile(s)
        except Exception as exc:  # noqa: BLE001 - the worker must start to do the rest
            logging.getLogger("cos.worker").exception("the %s reconcile failed", when)
            click.echo(f"warning: the {when} reconcile failed ({exc}); working the queues "
                       "anyway; run `cos reconcile` to see it again", err=True)
            with contextlib.suppress(queues.QueueUnavailable):
                enqueue_reconcile(s)  # the worker tries it again in a moment
            return
        if report.merged or report.queued_emails:
            click.echo(f"reconciled: merged rounds {report.merged}, queued "
                       f"{plural(report.queued_emails, 'email')}", err=True)
        for round_id, why in report.failed.items():
            click.echo(f"warning: campaign {round_id} could not be merged: {why}", err=True)
        say_left_out(report.skipped)

    sweep()
    # After Redis comes back (perhaps restarted empty), the sweep rebuilds the queued work.

    def on_reconnect() -> None:
        sweep("reconnect")

    if not with_scheduler:
        run_worker(s, burst=burst, simple=simple, on_reconnect=on_reconnect)
        return
    import threading

    from pipeline.scheduler import run_forever

    stop = threading.Event()
    ticking = threading.Thread(target=run_forever, args=(s,), kwargs={"stop": stop},
                               name="cos-scheduler", daemon=True)
    ticking.start()
    click.echo("scheduler: ticking every minute alongside the worker", err=True)
    try:
        run_worker(s, burst=burst, simple=simple, on_reconnect=on_reconnect)
    finally:
        stop.set()
        ticking.join(timeout=10)


def base_url_problem(base_url: str, host: str, port: int) -> str:
    """Say why links built on COS_BASE_URL would not reach a development server, or ''."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    local = {"127.0.0.1", "localhost", "::1", host}
    url_port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.hostname in local and url_port != port:
        return (f"COS_BASE_URL={base_url} points at port {url_port} but this server listens "
                f"on {port}: every emailed link would be dead. Use --port {url_port} or set "
                f"COS_BASE_URL=http://{parts.hostname}:{port}")
    return ""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-worker", is_flag=True, help="Do not start a worker alongside.")
@friendly
def serve(host: str, port: int, no_worker: bool) -> None:
    """Run the web app for development (production: gunicorn wsgi:app)."""
    from cos.processes import redis_for, stop_on_signals, worker_process
    from forms import create_app

    s = settings(require_secret=True, require_mail=True, development=True, announce=False)
    require_schema(s)
    if not os.environ.get("COS_BASE_URL"):
        s = s.with_(base_url=f"http://{host}:{port}")
    elif problem := base_url_problem(s.base_url, host, port):
        click.echo(f"warning: {problem}", err=True)
    with ExitStack() as stack:
        s = stack.enter_context(redis_for(s, say=lambda m: click.echo(m, err=True)))
        say_settings(s)
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
@click.option("--rounds", default=1, show_default=True, type=click.IntRange(1, 52),
              help="How many weekly rounds to run; from 2 on, some partners drift.")
@friendly
def demo(no_serve: bool, port: int, coalition_file: Path | None, rounds: int = 1) -> None:
    """Run whole rounds on embedded defaults, then keep the app running to look around."""
    from cos.demo import run_demo

    run_demo(no_serve=no_serve, port=port, coalition_file=coalition_file, rounds=rounds)


# --- listing: what is in the database -------------------------------------------------------


@main.command("coalitions")
@json_option
@friendly
def coalitions_cmd(as_json: bool) -> None:
    """List the coalitions, their people and open rounds."""
    from pipeline.db import session_scope
    from pipeline.listing import list_coalitions

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        found = list_coalitions(session)
    if as_json:
        echo_json({"coalitions": found})
        return
    if not found:
        click.echo("no coalitions yet: create one with `cos load FILE.toml`")
    for c in found:
        now = f"open round: campaign {c.open_campaign}" if c.open_campaign else "no open round"
        click.echo(f"{c.slug:<24} {c.name} ({c.timezone}, {c.stage}): "
                   f"{plural(c.partners, 'partner')}, {plural(c.leads, 'lead')}; {now}")


@people.command("list")
@click.argument("slug")
@json_option
@friendly
def people_list(slug: str, as_json: bool) -> None:
    """List a coalition's people (also `cos people SLUG`), deactivated ones included."""
    from pipeline.db import session_scope
    from pipeline.listing import list_people
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        found = list_people(session, get_coalition(session, slug))
    if as_json:
        echo_json({"coalition": slug, "people": found})
        return
    click.echo(f"{slug}: {len(found)} people, {sum(p.active for p in found)} active")
    for p in found:
        click.echo(f"  {p.name:<24} {p.email:<32} {p.organisation:<32} {p.role:<9} "
                   f"{'active' if p.active else 'deactivated'}")


@main.command("campaigns")
@click.argument("slug")
@json_option
@friendly
def campaigns_cmd(slug: str, as_json: bool) -> None:
    """List a coalition's rounds with their ids, times and counts."""
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition, list_rounds

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        coalition = get_coalition(session, slug)
        rounds, tz = list_rounds(session, coalition), coalition.timezone
    if as_json:
        echo_json({"coalition": slug, "timezone": tz, "rounds": rounds})
        return
    if not rounds:
        click.echo(f"{slug} has no rounds yet: start one with `cos campaign start {slug}`")
        return
    click.echo(f"{slug}: {plural(len(rounds), 'round')}, times in {tz}")
    click.echo(f"  {'round':>5} {'id':>5}  {'opened':<22} {'closes / closed':<29} "
               "invited answered")
    for r in rounds:
        end = (f"closed {format_local_short(r.closed_at, tz)}" if r.closed_at
               else f"closes {format_local_short(r.closes_at, tz)}")
        click.echo(f"  {r.number:>5} {r.campaign:>5}  {format_local_short(r.opened_at, tz):<22} "
                   f"{end:<29} {r.invited:>7} {r.answered:>8}")


# --- late changes to an open round ----------------------------------------------------------


@campaign.command("invite")
@click.argument("round_ref", metavar=ROUND_REF)
@click.argument("emails", nargs=-1, metavar="[EMAIL]...")
@click.option("--send-now", "send_now_flag", is_flag=True,
              help="Send the emails from this process instead of a worker.")
@json_option
@friendly
def campaign_invite(round_ref: str, emails: tuple[str, ...], send_now_flag: bool,
                    as_json: bool) -> None:
    """Invite to an open round the active partners who have no invitation yet (or those named)."""
    from pipeline.db import session_scope
    from pipeline.rounds import invite_people

    s = settings(require_secret=True)
    require_schema(s)
    with session_scope(s.database_url) as session:
        done = invite_people(session, s.secret_key, round_ref, list(emails))
        invited = [{"name": p.name, "email": p.email} for p in done.invited]
        result = {"campaign": done.round_.id, "coalition": done.coalition.slug,
                  "round": done.round_.number, "invited": invited}
    if not as_json:
        click.echo(f"{result['coalition']} round {result['round']} (campaign "
                   f"{result['campaign']}): invited {len(invited)}")
        for person in invited:
            click.echo(f"  {person['name']} <{person['email']}>")
    emails_done = deliver(s, done.delivery_ids, send_now_flag)
    if as_json:
        echo_json({**result, "emails": emails_done})
    refuse_unsent(emails_done)


@campaign.command("resend")
@click.argument("round_ref", metavar=ROUND_REF)
@click.argument("email")
@click.option("--send-now", "send_now_flag", is_flag=True,
              help="Send it from this process instead of a worker.")
@json_option
@friendly
def campaign_resend(round_ref: str, email: str, send_now_flag: bool, as_json: bool) -> None:
    """Send one person's invitation to an open round again, with the same link."""
    from pipeline.db import session_scope
    from pipeline.rounds import resend_invitation

    s = settings(require_secret=True, require_mail=True)
    require_schema(s)
    check_mail(s)
    with session_scope(s.database_url) as session:
        round_, person, delivery_id = resend_invitation(session, round_ref, email)
        result = {"campaign": round_.id, "round": round_.number, "name": person.name,
                  "email": person.email}
    if not as_json:
        click.echo(f"{person.name}'s invitation to round {round_.number} "
                   f"(campaign {round_.id}) will be sent again, with the same link")
    emails = deliver(s, [delivery_id], send_now_flag)
    if as_json:
        echo_json({**result, "emails": emails})
    refuse_unsent(emails)


@campaign.command("revoke")
@click.argument("round_ref", metavar=ROUND_REF)
@click.argument("email")
@json_option
@friendly
def campaign_revoke(round_ref: str, email: str, as_json: bool) -> None:
    """End one person's link to an open round (it then says the link no longer works)."""
    from pipeline.db import session_scope
    from pipeline.rounds import revoke_invitation

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        done = revoke_invitation(session, round_ref, email)
        result = {"campaign": done.round_.id, "coalition": done.coalition.slug,
                  "round": done.round_.number, "name": done.person.name,
                  "email": done.person.email, "revoked_at": done.revoked_at,
                  "email_stopped": done.email_stopped}
        tz = done.coalition.timezone
    if as_json:
        echo_json(result)
        return
    click.echo(f"revoked {result['name']}'s link to {result['coalition']} round "
               f"{result['round']} (campaign {result['campaign']}) at "
               f"{format_local_short(done.revoked_at, tz)}")
    if done.email_stopped:
        click.echo("their invitation email had not gone yet and will not be sent")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--web-workers", default=2, show_default=True,
              help="gunicorn worker processes for the web app.")
@click.option("--workers", default=1, show_default=True, help="`cos worker` processes.")
@click.option("--no-scheduler", is_flag=True,
              help="Leave out the scheduler (when another machine runs one).")
@friendly
def up(host: str, port: int, web_workers: int, workers: int, no_scheduler: bool = False) -> None:
    """Run the web app (gunicorn), workers, the scheduler and Redis for one machine, until
    Ctrl-C."""
    from cos.processes import redis_for, settings_env, supervise

    s = settings(require_secret=True, require_mail=True, announce=False)
    require_schema(s)
    with ExitStack() as stack:
        s = stack.enter_context(redis_for(s, say=lambda m: click.echo(m, err=True)))
        say_settings(s)
        python = sys.executable
        commands = {"web": [python, "-m", "gunicorn", "--workers", str(web_workers),
                            "--bind", f"{host}:{port}", "--graceful-timeout", "15",
                            "cos.wsgi:app"]}
        for n in range(1, workers + 1):
            commands[f"worker.{n}"] = [python, "-m", "cos.cli", "worker"]
        if not no_scheduler:
            commands["scheduler"] = [python, "-m", "cos.cli", "scheduler"]
        code = supervise(commands, settings_env(s), say=lambda m: click.echo(m, err=True))
    if code:
        raise click.ClickException(f"a process stopped on its own (exit status {code}); "
                                   "its log above says why")


def progress_bar(label: str) -> Any:
    """Return a progress callback (done, total) drawing a bar on stderr."""
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done
        if done >= total:
            state.pop("bar").__exit__(None, None, None)

    return update


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def backup_cmd(file: Path) -> None:
    """Copy the SQLite database into FILE, consistently, while everything keeps running."""
    from pipeline.backup import backup

    s = settings()
    backup(s.database_url, file, progress_bar("copying"))
    click.echo(f"backed up to {file}")


@main.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite the database that is there.")
@friendly
def restore_cmd(file: Path, replace: bool) -> None:
    """Put a backup made by `cos backup` in place (stop the app and workers first)."""
    from pipeline.backup import restore

    s = settings()
    restored = restore(file, s.database_url, replace=replace, progress=progress_bar("restoring"))
    click.echo(f"restored {file} into {restored}")


@main.command("export")
@click.argument("slug")
@click.option("--what", type=click.Choice(["answers", "scoreboard", "commitments", "people"]),
              required=True, help="Which data to write.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
@friendly
def export_cmd(slug: str, what: str, fmt: str, out: Path | None) -> None:
    """Write a coalition's data as CSV (safe to open in a spreadsheet) or JSON."""
    from pipeline.db import session_scope
    from pipeline.export import export
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        text = export(session, get_coalition(session, slug), what, fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8", newline="")
    click.echo(f"{slug}: {what} written to {out}", err=True)


# --- the weekly cadence ---------------------------------------------------------------------


@campaign.command("pause")
@click.argument("round_ref", metavar=ROUND_REF)
@friendly
def campaign_pause(round_ref: str) -> None:
    """Hold a round's emails (invitations, reminders, digest) until it is resumed."""
    from pipeline.db import session_scope
    from pipeline.lifecycle import pause_round

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        round_ = pause_round(session, round_ref)
        number, round_id = round_.number, round_.id
    click.echo(f"campaign {round_id} (round {number}) paused: nothing more of it is sent "
               f"until `cos campaign resume {round_id}`")


@campaign.command("resume")
@click.argument("round_ref", metavar=ROUND_REF)
@friendly
def campaign_resume(round_ref: str) -> None:
    """Send a paused round's waiting emails again."""
    from pipeline import queues
    from pipeline.db import session_scope
    from pipeline.lifecycle import resume_round

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        round_, waiting = resume_round(session, round_ref)
        number, round_id = round_.number, round_.id
    try:
        queued = queues.enqueue_sends(s, waiting)
    except queues.QueueUnavailable as exc:
        raise click.ClickException(
            f"campaign {round_id} resumed, but its {plural(len(waiting), 'waiting email')} "
            f"could not be queued ({exc}); `cos reconcile` queues them") from exc
    click.echo(f"campaign {round_id} (round {number}) resumed; "
               f"{plural(queued, 'waiting email')} queued")


@campaign.command("cancel")
@click.argument("round_ref", metavar=ROUND_REF)
@friendly
def campaign_cancel(round_ref: str) -> None:
    """Cancel a round: its links stop working and no more of its emails go out."""
    from pipeline.db import session_scope
    from pipeline.lifecycle import cancel_round

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        round_, stopped = cancel_round(session, round_ref)
        number, round_id = round_.number, round_.id
    click.echo(f"campaign {round_id} (round {number}) cancelled; "
               f"{plural(stopped, 'email')} not sent")


@people.command("restore")
@click.argument("email")
@friendly
def people_restore(email: str) -> None:
    """Let mail go again to an address that bounced and was suppressed."""
    from pipeline.db import session_scope
    from pipeline.lifecycle import restore_people

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        restored = [f"{p.name} <{p.email}>" for p in restore_people(session, email)]
    for who in restored:
        click.echo(f"restored {who}: mail to this address goes out again")


@main.group("mail")
def mail_group() -> None:
    """Check the mail transport."""


@mail_group.command("test")
@click.argument("address")
@friendly
def mail_test(address: str) -> None:
    """Send a test message to ADDRESS through COS_MAIL_URL and print the server's answer."""
    import uuid

    from emails import DeliveryError, backend_from_url, build_message, dkim, render_email
    from emails.notices import mail_test_notice, notice_context
    from emails.transport import reused_connection

    s = settings()
    title, lines = mail_test_notice(backend_from_url(s.mail_url).describe(), dkim.describe())
    context = notice_context("COS Cadence", title, lines, "en")
    context["footer_reason"] = "someone ran `cos mail test` with your address"
    message = build_message(render_email("notice", context), sender=s.mail_from,
                            to_name="", to_addr=address,
                            message_id=f"<cos.test.{uuid.uuid4().hex}@{s.mail_domain}>")
    backend = backend_from_url(s.mail_url)
    try:
        with reused_connection(backend) as sender:
            sender.send(message)
            answer = getattr(sender, "last_reply", "")
    except DeliveryError as exc:
        raise click.ClickException(f"the test message was not accepted: {exc}") from exc
    click.echo(dkim.describe())
    click.echo(f"accepted by {backend.describe()}" + (f": {answer}" if answer else ""))


@main.command("preview")
@click.argument("kind")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write KIND.html, KIND.txt and KIND.subject.txt into this folder "
                   "(default: print the text part).")
@click.option("--lang", "language", default="en", show_default=True,
              help="The reader's language: one of the shipped catalogs (en, es).")
@friendly
def preview(kind: str, out: Path | None, language: str) -> None:
    """Render an email KIND with example data (invitation, reminder, digest, web-digest,
    notice, opt-out-notice, sign-in, or all)."""
    from emails.examples import NAMES, render_example
    from emails.i18n import language_problem, normalise

    problem = language_problem(language)
    if problem:
        raise click.UsageError(f"--lang: {problem}")
    language = normalise(language)
    if kind != "all" and kind not in NAMES:
        raise click.UsageError(f"no email kind {kind!r}; choose one of "
                               f"{', '.join(NAMES)} or all")
    suffix = "" if language == "en" else f".{language}"
    for name in NAMES if kind == "all" else [kind]:
        rendered = render_example(name, language)
        if out is None:
            click.echo(f"Subject: {rendered.subject}\n\n{rendered.text}")
            continue
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{name}{suffix}"
        (out / f"{stem}.subject.txt").write_text(rendered.subject + "\n", encoding="utf-8")
        (out / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
        (out / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
        click.echo(f"{name}: {out / stem}.html, .txt, .subject.txt")


@people.command("opt-out")
@click.argument("email")
@friendly
def people_opt_out(email: str) -> None:
    """Stop the recurring emails to EMAIL (e.g. after an unsubscribe mail to COS_MAIL_FROM)."""
    from sqlalchemy import func
    from sqlmodel import select

    from pipeline.db import session_scope
    from pipeline.lifecycle import opt_out, tell_leads_of_opt_out
    from pipeline.models import Person

    s = settings(require_secret=True)
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        ids = list(session.exec(select(Person.id).where(
            func.lower(Person.email) == email.strip().lower())).all())
    if not ids:
        raise click.ClickException(f"{email}: nobody has this address")
    for person_id in ids:
        said = opt_out(s, person_id or 0)
        if said is not None:
            click.echo(f"{said.person.name} <{said.person.email}>: "
                       + ("opted out" if said.changed else "had already opted out"))
            if said.changed:
                tell_leads_of_opt_out(s, person_id or 0)


@main.command("scheduler")
@click.option("--once", is_flag=True, help="Tick once and stop (e.g. from cron or a timer).")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors.")
@friendly
def scheduler_cmd(once: bool, quiet: bool) -> None:
    """Run the cadence: every minute, open, remind, close and send digests that are due.

    Any number of schedulers may run at once: each step is claimed in the database, once.
    """
    from cos.logs import setup_logging
    from pipeline import queues
    from pipeline.scheduler import run_forever, tick

    setup_logging(logging.WARNING if quiet else logging.INFO, own_process=True)
    s = settings(require_secret=True, require_mail=True, announce=False)
    require_schema(s)
    s = s.with_(redis_url=queues.find_redis_url(s.redis_url, s.instance))
    say_settings(s)
    if once:
        report = tick(s)
        for line in report.lines():
            click.echo(line)
        if not report.lines():
            click.echo("nothing due")
        if report.failed:
            sys.exit(1)
        return
    click.echo("scheduler: ticking every minute; Ctrl-C stops it", err=True)
    from cos.processes import stop_on_signals

    stop_on_signals()  # SIGTERM (from `cos up` or systemd) stops it as Ctrl-C does
    try:
        run_forever(s)
    except KeyboardInterrupt:
        click.echo("scheduler: stopped", err=True)


@main.command("schedule")
@click.argument("slug")
@click.option("--set", "changes", multiple=True, metavar="KEY=VALUE",
              help="Change one [cadence] setting (repeatable), e.g. --set open='Tuesday 09:00' "
                   "--set reminders=48h,24h; an empty value removes a setting.")
@click.option("--off", is_flag=True, help="Stop scheduling rounds for this coalition.")
@click.option("--next", "upcoming", default=8, show_default=True,
              help="How many of the next steps to show.")
@json_option
@friendly
def schedule_cmd(slug: str, changes: tuple[str, ...], off: bool, upcoming: int,
                 as_json: bool) -> None:
    """Show a coalition's cadence and its next steps, or change it with --set / --off."""
    from pipeline.coalitions import cadence_of, change_cadence, upcoming_steps
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    if changes and off:
        raise click.UsageError("give either --set or --off, not both")
    with session_scope(s.database_url, read_only=not (changes or off)) as session:
        if changes or off:
            coalition = change_cadence(session, slug, list(changes), off=off)
        else:
            coalition = get_coalition(session, slug)
        cadence = cadence_of(coalition)
        pause_after = coalition.pause_after_failures
        steps = upcoming_steps(session, coalition, max(upcoming, 0))
    if as_json:
        echo_json({"coalition": slug, "cadence": cadence.to_mapping() if cadence else None,
                   "pause_after_failures": pause_after,
                   "next": [{"period": st.period, "step": st.kind, "at": st.due_at}
                            for st in steps]})
        return
    if cadence is None:
        click.echo(f"{slug}: no cadence; rounds start only with `cos campaign start {slug}` "
                   f"(add a [cadence] table to its file, or `cos schedule {slug} --set "
                   "open='Tuesday 09:00'`)")
        return
    if changes or off:
        click.echo(f"{slug}: cadence changed; it applies from now on", err=True)
    click.echo(f"{slug}: cadence in {cadence.timezone}")
    for key, value in cadence.to_mapping().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"  {key:<20} {shown if shown != '' else '-'}")
    click.echo(f"  {'pause_after_failures':<20} {pause_after}")
    if steps:
        click.echo("next:")
        for st in steps:
            click.echo(f"  {format_local_short(st.due_at, cadence.timezone):<22} "
                       f"{st.period:<9} {st.kind}")


@main.group("webhooks")
def webhooks_group() -> None:
    """Signed webhooks (Standard Webhooks) on answer.created, answer.updated, round.closed."""


@webhooks_group.command("add")
@click.argument("slug")
@click.argument("url")
@click.option("--event", "events", multiple=True,
              type=click.Choice(["answer.created", "answer.updated", "round.closed"]),
              help="Send only this event (repeat for more); every event by default.")
@json_option
@friendly
def webhooks_add(slug: str, url: str, events: tuple[str, ...], as_json: bool) -> None:
    """Send a coalition's events to URL; prints the signing secret (shown only now)."""
    from pipeline import webhooks
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        endpoint = webhooks.add_endpoint(session, get_coalition(session, slug), url, events)
        row = {"id": endpoint.id, "url": endpoint.url, "events": endpoint.events or "all",
               "secret": endpoint.secret}
    if as_json:
        echo_json(row)
        return
    click.echo(f"webhook {row['id']}: {row['url']} ({row['events']})")
    click.echo(f"signing secret: {row['secret']}")
    click.echo("Keep the secret with the receiver: it checks each message's webhook-signature "
               "with it (Standard Webhooks). It is not shown again.")


@webhooks_group.command("list")
@click.argument("slug")
@json_option
@friendly
def webhooks_list(slug: str, as_json: bool) -> None:
    """List a coalition's webhooks (secrets are not shown)."""
    from pipeline import webhooks
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        rows = [{"id": e.id, "url": e.url, "events": e.events or "all", "active": e.active,
                 "disabled_reason": e.disabled_reason, "created_at": e.created_at}
                for e in webhooks.endpoints(session, get_coalition(session, slug))]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"{slug} has no webhooks: `cos webhooks add {slug} URL` adds one")
    for r in rows:
        state = "active" if r["active"] else f"off ({r['disabled_reason']})"
        click.echo(f"{r['id']:>4}  {r['url']}  {r['events']}  {state}")


@webhooks_group.command("remove")
@click.argument("webhook_id", type=int)
@friendly
def webhooks_remove(webhook_id: int) -> None:
    """Stop sending to a webhook; its delivery log is kept."""
    from pipeline import webhooks
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        endpoint = webhooks.remove_endpoint(session, webhook_id)
        click.echo(f"webhook {endpoint.id} ({endpoint.url}) removed")


@webhooks_group.command("log")
@click.argument("slug")
@click.option("--limit", default=50, show_default=True, help="How many messages to show.")
@json_option
@friendly
def webhooks_log(slug: str, limit: int, as_json: bool) -> None:
    """Show the latest webhook messages of a coalition and what became of each."""
    from pipeline import webhooks
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        rows: list[dict[str, Any]] = [{
                 "id": d.id, "webhook": e.id, "url": e.url, "event": d.event_type,
                 "webhook_id": d.event_id, "status": d.status, "attempts": d.attempts,
                 "last_status_code": d.last_status_code, "last_error": d.last_error,
                 "next_attempt_at": d.next_attempt_at, "created_at": d.created_at,
                 "delivered_at": d.delivered_at}
                for d, e in webhooks.delivery_log(session, get_coalition(session, slug),
                                                  limit)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"{slug}: no webhook messages yet")
    for r in rows:
        detail = r["last_error"] or (f"HTTP {r['last_status_code']}"
                                     if r["last_status_code"] else "")
        nxt = (f", next try {format_local_short(r['next_attempt_at'], 'UTC')}"
               if r["status"] == "pending" and r["next_attempt_at"] else "")
        click.echo(f"{r['id']:>5}  {r['event']:<15} {r['status']:<9} "
                   f"{plural(r['attempts'], 'attempt')}{nxt}  {detail}  -> {r['url']}")


@webhooks_group.command("redeliver")
@click.argument("message_id", type=int)
@friendly
def webhooks_redeliver(message_id: int) -> None:
    """Send a logged webhook message again (same webhook-id, so receivers can de-duplicate)."""
    from pipeline import webhooks
    from pipeline.db import session_scope
    from pipeline.queues import QueueUnavailable

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        delivery = webhooks.redeliver(session, message_id)
    try:
        webhooks.enqueue(s, [delivery.id or 0])
    except QueueUnavailable as exc:
        raise click.ClickException(f"message {message_id} is pending again, but {exc}: "
                                   "start Redis, then `cos reconcile` queues it") from exc
    click.echo(f"message {message_id} queued for delivery")


@main.group("api-token")
def api_token() -> None:
    """Tokens for the read-only JSON API (/api/v1; see forms/openapi.yaml)."""


@api_token.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Who or what uses the token, e.g. 'dashboard'.")
@friendly
def api_token_create(slug: str, name: str) -> None:
    """Make a token that reads one coalition; it is printed once and stored only hashed."""
    from pipeline import api
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        row, token = api.create_token(session, get_coalition(session, slug), name)
        token_id = row.id
    click.echo(token)
    click.echo(f"API token {token_id} ({name}) for {slug}: send it as Authorization: Bearer "
               "<token>. It is not shown again; `cos api-token revoke "
               f"{token_id}` ends it.", err=True)


@api_token.command("list")
@click.argument("slug")
@json_option
@friendly
def api_token_list(slug: str, as_json: bool) -> None:
    """List a coalition's API tokens (their first characters only)."""
    from pipeline import api
    from pipeline.db import session_scope
    from pipeline.rounds import get_coalition

    s = settings()
    require_schema(s)
    with session_scope(s.database_url, read_only=True) as session:
        rows: list[dict[str, Any]] = [{
                 "id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at,
                 "last_used_at": t.last_used_at, "revoked_at": t.revoked_at}
                for t in api.tokens(session, get_coalition(session, slug))]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"{slug} has no API tokens: `cos api-token create {slug} --name WHO`")
    for r in rows:
        state = "revoked" if r["revoked_at"] else (
            f"last used {iso_utc(r['last_used_at'])}" if r["last_used_at"] else "never used")
        click.echo(f"{r['id']:>4}  {r['prefix']}...  {r['name']}  {state}")


@api_token.command("revoke")
@click.argument("token_id", type=int)
@friendly
def api_token_revoke(token_id: int) -> None:
    """End an API token at once."""
    from pipeline import api
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    with session_scope(s.database_url) as session:
        row = api.revoke_token(session, token_id)
        click.echo(f"API token {row.id} ({row.name}) revoked")


# --- admin accounts for the web pages -------------------------------------------------------


@main.group()
def admin() -> None:
    """Manage the accounts that sign in to the admin pages."""


@admin.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@friendly
def admin_create(email: str, password_stdin: bool) -> None:
    """Create an admin account (or set a new password for one); the password is asked twice."""
    from pipeline.admins import create_admin
    from pipeline.db import session_scope

    s = settings()
    require_schema(s)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True,
                                err=True)
    with session_scope(s.database_url) as session:
        made = create_admin(session, email, password)
        shown = made.email
    click.echo(f"admin {shown} can sign in at {s.base_url}/admin/")


@main.command("jobs")
@click.option("--failed", "failed_only", is_flag=True, help="List only the failed jobs.")
@click.option("--retry", "retry_id", metavar="ID", help="Put one failed job back on its queue.")
@click.option("--retry-all", is_flag=True, help="Put every failed job back on its queue.")
@click.option("--queue", "queue_name", metavar="NAME",
              help="With --retry-all: only this queue's failed jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@friendly
def jobs_cmd(failed_only: bool, retry_id: str | None, retry_all: bool, queue_name: str | None,
             as_json: bool) -> None:
    """List each queue's queued, scheduled, started and failed jobs, or retry failed ones."""
    from pipeline import jobs, queues

    s = settings(announce=False)
    conn = queues.connect(s)
    if retry_id and retry_all:
        raise click.UsageError("give --retry ID or --retry-all, not both")
    if retry_id:
        job = jobs.retry(conn, retry_id)
        click.echo(f"job {job.id} ({job.function}) is back on {job.queue}")
        return
    if retry_all:
        count = jobs.retry_all(conn, queue_name)
        click.echo(f"{plural(count, 'failed job')} back on "
                   f"{queue_name or 'their queues'}")
        return
    found = jobs.list_jobs(conn, failed_only=failed_only)
    if as_json:
        echo_json([{"queue": q.name, "counts": q.counts,
                    "jobs": {state: [j.as_json() for j in listed]
                             for state, listed in q.jobs.items()}} for q in found])
        return
    for q in found:
        click.echo(f"{q.name}: " + ", ".join(f"{n} {state}" for state, n in q.counts.items()))
        for listed in q.jobs.values():
            for j in listed:
                moment = j.ended_at or j.enqueued_at
                when = iso_utc(moment) if moment else "-"
                click.echo(f"  {j.state:9} {j.id}  {j.function}({j.args})  {when}"
                           + (f"\n            {j.failure}" if j.failure else ""))


if __name__ == "__main__":
    main()
