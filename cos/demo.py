"""`cos demo`: whole rounds on embedded defaults, answered over HTTP as partners would."""

from __future__ import annotations

import hashlib
import os
import random
import re
import secrets
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import click
import lxml.html
from sqlmodel import Session, col, select

from cos.checkin_client import CheckinPage
from cos.local_redis import free_port
from cos.processes import redis_for, stop_on_signals, web_server, worker_process
from emails import FileOutbox
from pipeline import queues
from pipeline.coalitions import load_coalition
from pipeline.config import Settings
from pipeline.cos_model import store_snapshot
from pipeline.db import session_scope
from pipeline.digest import render_digest
from pipeline.models import Coalition, Response, Round, utcnow
from pipeline.rounds import finish_round, start_round
from pipeline.schema import upgrade
from pipeline.workers import run_burst

DEMO_ROUND = timedelta(hours=72)
LINK_RE = re.compile(r"https?://[^\s<>\"]+/c/[A-Za-z0-9_-]{43}")
WINS = [
    "Our first Saturday lunch served 64 people, half of them new faces.",
    "The council agreed to share free-school-meal eligibility data with us.",
    "A local supermarket signed up to give us its surplus bread every evening.",
    "Twelve families moved from emergency parcels to the veg box scheme.",
    "Two schools started breakfast clubs a week early.",
]
BLOCKERS = [
    ("We still have no cold storage, so we turn chilled food away.", True),
    ("Volunteers for the Saturday rota dropped out over winter.", True),
    ("Waiting for legal sign-off on the data-sharing agreement.", False),
]
NOTES = ["", "", "Meeting booked with the landlord", "Need one more volunteer",
         "Delayed by the holidays", ""]


def say(message: str) -> None:
    """Print one line of progress."""
    click.echo(message)


def example_file() -> Path:
    """Return the example coalition file shipped with the repository."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        candidate = root / "examples" / "riverside-food.toml"
        if candidate.exists():
            return candidate
    raise click.ClickException("examples/riverside-food.toml not found: run from the repository "
                               "or pass --file")


def demo_secret(instance: Path) -> str:
    """Return COS_SECRET_KEY, or a random key kept in instance/ for the demo's links."""
    if len(os.environ.get("COS_SECRET_KEY", "")) >= 16:
        return os.environ["COS_SECRET_KEY"]
    path = instance / "demo-secret.key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def outbox_dir(settings: Settings) -> Path:
    """Return the folder of the file outbox."""
    return Path(url2pathname(urlsplit(settings.mail_url).path))


def invitation_links(settings: Settings, round_id: int) -> dict[str, str]:
    """Read the invitations of a round back from the outbox: recipient -> link."""
    links: dict[str, str] = {}
    for path in FileOutbox(outbox_dir(settings)).list():
        message = FileOutbox.read_message(path)
        if f"cos.{round_id}." not in str(message["Message-ID"]) or ".invitation." not in str(
                message["Message-ID"]):
            continue
        body = message.get_body(preferencelist=("plain",))
        found = LINK_RE.search(body.get_content() if body else "")
        if found:
            links[str(message["To"])] = found.group(0)
    return links


def partner_answers(page: CheckinPage, rng: random.Random, *,
                    bad_number: bool = False) -> dict[str, str | list[str]]:
    """Answer a check-in page as a partner might (with one malformed number if asked)."""
    answers: dict[str, str | list[str]] = {}
    for status_name, note_name in page.commitments():
        answers[status_name] = rng.choices(["on_track", "slipping", "blocked", "done"],
                                           [5, 2, 1, 2])[0]
        answers[note_name] = rng.choice(NOTES)
    for box in page.metrics():
        start = box.last if box.last is not None else box.baseline
        value = round(start + (box.target - box.baseline) * rng.uniform(0.02, 0.08))
        answers[box.field] = f"about {value:,}" if bad_number else f"{value:,}"
        bad_number = False
    if rng.random() < 0.5:
        answers["win"] = rng.choice(WINS)
    if rng.random() < 0.35:
        text, help_wanted = rng.choice(BLOCKERS)
        answers["blocker"] = text
        if help_wanted:
            answers["help_wanted"] = "y"
    answers["pulse"] = str(rng.choices([2, 3, 4, 5], [1, 3, 5, 3])[0])
    helpers = page.organisations()
    answers["helped_by"] = rng.sample(helpers, k=min(len(helpers), rng.choice([0, 1, 1, 2])))
    if rng.random() < 0.2:
        answers["new_commitment"] = "Introduce two new volunteers to the kitchen rota"
    answers.update(item_answers(page, rng))
    return answers


def item_answers(page: CheckinPage, rng: random.Random) -> dict[str, str | list[str]]:
    """Answer the playbook items the page carries this round, mostly agreeing."""
    doc = lxml.html.fromstring(page.html)
    answers: dict[str, str | list[str]] = {}
    names = sorted({str(el.get("name")) for el in doc.xpath("//input[@type='radio']")
                    if str(el.get("name", "")).startswith("item_")})
    for name in names:
        values = [str(v) for v in doc.xpath(f"//input[@name='{name}']/@value")]
        if "5" in values:
            answers[name] = rng.choices(["2", "3", "4", "5", "not_sure"], [1, 3, 5, 3, 1])[0]
        else:
            answers[name] = values[0] if rng.random() < 0.6 else rng.choice(values)
    if doc.xpath("//textarea[@name='echo']"):
        win = " ".join(doc.xpath("//blockquote[@class='win']/text()")).strip()
        words = win.split()
        answers["echo"] = rng.choices(
            [win, " ".join(words[len(words) // 2:]), "Better food for Riverside"], [4, 3, 2])[0]
    return answers


def commitment_fields(page: CheckinPage) -> dict[str, str]:
    """Map each commitment's text on the page to its status field."""
    out = {}
    for fieldset in lxml.html.fromstring(page.html).xpath("//fieldset[@class='commitment']"):
        legend = fieldset.find("legend")
        radios = fieldset.xpath(".//input[@type='radio']/@name")
        if legend is not None and radios:
            out[(legend.text or "").strip()] = str(radios[0])
    return out


@dataclass
class Drift:
    """What goes wrong over the demo's rounds, so its last digest shows moves at work.

    From round 2 on, one partner goes quiet; one commitment is reported slipping every round;
    for the last two rounds one partner reports no numbers; from round 3 on, one partner rates
    "worth the time it costs" at 2.
    """

    rounds: int = 4
    quiet: str = ""
    slipping: str = ""
    slipping_owner: str = ""
    stale: str = ""
    unhappy: str = ""

    @property
    def stale_from(self) -> int:
        """Return the round from which the stale partner stops reporting: its metrics turn
        red, and slip, in the last round."""
        return max(2, self.rounds - 1)


def answer_round(links: dict[str, str], round_number: int,
                 drift: Drift | None = None) -> tuple[int, list[str]]:
    """Answer as most partners would (a few stay silent, one mistypes a number and fixes it)."""
    recipients = sorted(links)
    order = sorted(recipients, key=lambda r: hashlib.sha256(f"{round_number}{r}".encode()).digest())
    silent = set(order[:2])
    if drift is not None and round_number >= 2:
        drift.quiet = drift.quiet or recipients[-1]
        steady = {drift.quiet, drift.stale, drift.unhappy, drift.slipping_owner}
        silent = {drift.quiet, next(r for r in order if r not in steady)}
    corrected = False
    answered = 0
    for who in recipients:
        if who in silent:
            continue
        page = CheckinPage.open(links[who])
        wants_mistake = not corrected and bool(page.metrics()) and round_number == 1

        def drifted(answers: dict[str, str | list[str]], who: str = who,
                    page: CheckinPage = page) -> dict[str, str | list[str]]:
            if drift is None or round_number < 2:
                return answers
            fields = commitment_fields(page)
            if not drift.slipping and fields:
                drift.slipping, drift.slipping_owner = sorted(fields)[0], who
            if drift.slipping in fields:
                answers[fields[drift.slipping]] = "slipping"
            boxes = page.metrics()
            if not drift.stale and boxes:
                drift.stale = who
            if who == drift.stale and round_number >= drift.stale_from:
                for box in boxes:
                    answers[box.field] = ""
            drift.unhappy = drift.unhappy or who
            if who == drift.unhappy and round_number >= 3 and "item_M2" in answers:
                answers["item_M2"] = "2"
            return answers

        result = page.submit(drifted(partner_answers(
            page, random.Random(f"{round_number}:{who}"), bad_number=wants_mistake)))
        if wants_mistake:
            if result.status_code != 400 or "is not a number" not in result.text:
                raise click.ClickException("the form accepted a malformed number")
            say(f"  {who}: typed 'about ...' in a number box, got the error, corrected it")
            result = page.submit(drifted(partner_answers(
                page, random.Random(f"{round_number}:{who}"))))
            corrected = True
        if result.status_code != 200 or "Thank you" not in result.text:
            raise click.ClickException(f"{who}'s check-in was not accepted "
                                       f"(HTTP {result.status_code})")
        answered += 1
    return answered, sorted(silent)


def open_and_invite(settings: Settings, slug: str) -> tuple[int, int]:
    """Open a round and send its invitations to the outbox; return its id and number."""
    with session_scope(settings.database_url) as session:
        round_, delivery_ids = start_round(session, settings.secret_key, slug, DEMO_ROUND)
        round_id, number = round_.id or 0, round_.number
    queues.enqueue_sends(settings, delivery_ids)
    run_burst(settings)
    return round_id, number


def backdate(session: Session, round_id: int, by: timedelta, *, close: bool) -> None:
    """Move a demo round and its answers ``by`` into the past (closing it), and recompute its
    phase snapshot, so N rounds run in a minute read like N weeks."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    now = utcnow()
    round_.opened_at -= by
    round_.closes_at = min(round_.closes_at, now) - by
    if close:
        round_.closed_at = round_.closes_at
    session.add(round_)
    for response in session.exec(select(Response).where(Response.round_id == round_id)):
        response.submitted_at -= by
        session.add(response)
    session.flush()
    store_snapshot(session, round_id)


def phase_line(phase: dict[str, Any]) -> str:
    """One phase for the terminal: "Align 76 (discuss)", or why it has no score yet."""
    if phase["score"] is None:
        return f"{phase['label']} (not enough answers yet)"
    exits = ", exit tests met" if phase["passed"] else ""
    return f"{phase['label']} {phase['score']} ({phase['band']}{exits})"


def model_lines(session: Session, round_id: int) -> list[str]:
    """Say where the coalition stands after the last round, and each move with why."""
    from pipeline.cos_model import snapshot_for

    snap = snapshot_for(session, round_id)
    lines = [f"8. focus: {snap['phases'][snap['focus']]['label']} (stage {snap['stage']}); "
             + ", ".join(phase_line(p) for p in snap["phases"].values())]
    for move in snap["moves"]:
        lines.append(f"   move {move['rank']}: {move['move']} ({move['evidence']})")
    for item in snap["slipped"]:
        lines.append(f"   slipped: {item['what']}")
    return lines


def run_demo(*, no_serve: bool, port: int, coalition_file: Path | None,
             rounds: int = 1) -> None:
    """Run the demo (see the README)."""
    base = Settings.from_env(require_secret=False)
    port = port or free_port()
    outbox = (base.instance / "outbox").as_uri()
    if base.mail_url != outbox:
        say(f"note: the demo reads its invitations back from the file outbox, so it writes "
            f"mail there and ignores COS_MAIL_URL={base.mail_url}")
    settings = base.with_(secret_key=demo_secret(base.instance), mail_url=outbox,
                          base_url=f"http://127.0.0.1:{port}")
    with ExitStack() as stack:
        settings = stack.enter_context(redis_for(settings, say=say))
        say(f"1. database: {settings.database_url}")
        upgrade(settings.database_url)
        path = coalition_file or example_file()
        with session_scope(settings.database_url) as session:
            summary = load_coalition(session, path)
            slug = summary.coalition
        say(f"2. loaded {path.name}: {'; '.join(summary.lines())}")

        from forms import create_app
        from forms.ratelimit import Rate

        app = create_app(settings, dev_outbox=True)
        # Every simulated partner answers from 127.0.0.1: one address, many people.
        app.config["COS_RATE_LIMITS"] = {"token": Rate(0, 60)}
        stack.enter_context(web_server(app, "127.0.0.1", port))
        say(f"3. web app on {settings.base_url}")

        with session_scope(settings.database_url) as session:
            stale = session.exec(select(Round.id).join(
                Coalition, col(Coalition.id) == col(Round.coalition_id)).where(
                Coalition.slug == slug, col(Round.closed_at).is_(None))).all()
        for stale_id in stale:
            say(f"   closing campaign {stale_id}, left open by an earlier run")
            finish_round(settings, stale_id or 0)
        drift = Drift(rounds=rounds) if rounds > 1 else None
        for left in range(rounds - 1, -1, -1):
            round_id, number = open_and_invite(settings, slug)
            links = invitation_links(settings, round_id)
            say(f"4. round {number} opened (campaign {round_id}): {len(links)} invitations "
                f"written to {outbox_dir(settings)}")

            answered, silent = answer_round(links, number, drift)
            say(f"5. {answered} partners answered through the form; silent: "
                f"{', '.join(silent)}")
            run_burst(settings)
            say("6. the worker merged the answers and recomputed the scoreboard")

            if left:
                with session_scope(settings.database_url) as session:
                    backdate(session, round_id, timedelta(weeks=left), close=True)
                say(f"7. round {number} closed, dated {left} week(s) back")
                continue
            report = finish_round(settings, round_id)
            with session_scope(settings.database_url) as session:
                digest_path = settings.instance / f"digest-{slug}-round-{number}.html"
                digest_path.write_text(render_digest(session, settings, round_id).html,
                                       encoding="utf-8")
            say(f"7. round closed; digest sent to "
                f"{', '.join(report.digest.sent) or 'nobody new'}")
        if drift is not None:
            say(f"   drift: {drift.quiet} went quiet; \u201c{drift.slipping}\u201d kept "
                f"slipping; {drift.stale} stopped reporting numbers; {drift.unhappy} rated "
                "the time it costs at 2")
            with session_scope(settings.database_url, read_only=True) as session:
                for line in model_lines(session, round_id):
                    say(line)
        say("")
        say(f"outbox: {outbox_dir(settings)}")
        say(f"digest: {digest_path}")
        if no_serve:
            return
        # Leave a round open, so the links in the outbox lead to forms that take answers.
        next_id, next_number = open_and_invite(settings, slug)
        stack.enter_context(worker_process(settings, quiet=True))
        cos = Path(sys.argv[0]).resolve() if sys.argv[0].endswith("cos") else "cos"
        say("")
        say(f"Round {next_number} is open for you to try (campaign {next_id}). The app and a "
            "worker keep running.")
        say(f"Open the local outbox, pick an invitation and follow its link: "
            f"{settings.base_url}/dev/outbox/")
        say(f"Close the round and get its digest: COS_INSTANCE_DIR={settings.instance} "
            f"COS_SECRET_KEY=$(cat {settings.instance}/demo-secret.key) "
            f"{cos} campaign close {next_id}")
        say("Press Ctrl-C to stop everything this command started.")
        wait_for_stop()
        say("\nstopping the worker, the web app and the private Redis ...")


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop_on_signals()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        return

