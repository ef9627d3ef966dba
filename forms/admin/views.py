"""The admin pages' views: each reads a form, calls a pipeline function, renders the outcome."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from sqlmodel import col, select
from werkzeug.datastructures import FileStorage

from emails import DeliveryError
from forms.admin.access import gate, safe_next, settings, viewer
from forms.admin.forms import (
    ActionForm,
    ApplyUploadForm,
    CoalitionUploadForm,
    EchoMarkForm,
    LeadLinkForm,
    PeopleUploadForm,
    SignInForm,
    StartRoundForm,
)
from forms.ratelimit import rate_limited
from pipeline import admins
from pipeline.board import status_board
from pipeline.coalitions import (
    LoadError,
    LoadSummary,
    decode_upload,
    import_people,
    load_coalition_text,
)
from pipeline.core.display import format_local_short, plural
from pipeline.db import session_scope
from pipeline.errors import FixableError
from pipeline.listing import list_coalitions, list_people
from pipeline.models import Coalition, Metric, Organisation
from pipeline.previews import example_email, example_emails, first_invitation, test_invitation
from pipeline.queues import QueueUnavailable, enqueue_sends
from pipeline.rounds import (
    finish_round,
    get_coalition,
    get_round,
    list_rounds,
    parse_duration,
    remind_silent,
    start_round,
)

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(gate)

# Pages may load our script and poll our JSON, and frame our own email previews; nothing else.
ADMIN_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# The status board alone runs a script: our static board.js, which polls our JSON.
BOARD_CSP = ADMIN_CSP + "; script-src 'self'; connect-src 'self'"
# An email's HTML, framed by our preview pages: its inline styles, no scripts.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
             "frame-ancestors 'self'")


@bp.context_processor
def _csrf() -> dict[str, Any]:
    return {"csrf_token": generate_csrf}


@bp.errorhandler(413)
def _too_large(exc: Exception) -> ResponseReturnValue:
    limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // 1024
    return render_template(
        "admin/message.html", title="That file is too large",
        message=f"Uploads can be at most {limit} KB. A coalition file or a people CSV is "
                "usually far smaller: check that you chose the right file."), 413


@bp.errorhandler(FixableError)
def _fixable(exc: FixableError) -> ResponseReturnValue:
    # An unknown coalition or round, a round that cannot change: the pipeline says why.
    return render_template("admin/message.html", title="That cannot be done",
                           message=str(exc)), 404 if str(exc).startswith("no ") else 409


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", ADMIN_CSP)
    return response


def client_address() -> str:
    """Return the address a sign-in came from (behind a proxy, configure ProxyFix)."""
    return request.remote_addr or "unknown"


# --- signing in and out -------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@rate_limited("token")
def sign_in() -> ResponseReturnValue:
    """Sign an admin in with email and password."""
    form = SignInForm()
    problem = ""
    if form.validate_on_submit():
        with session_scope(settings().database_url) as db:
            outcome = admins.authenticate(db, form.email.data or "", form.password.data or "",
                                          client_address())
            admin_id = outcome.admin.id if outcome.admin else None
            email = outcome.admin.email if outcome.admin else ""
        problem = outcome.problem
        if not problem:
            session.clear()
            session.update(kind="admin", admin_id=admin_id, email=email, since=int(time.time()))
            return redirect(safe_next(request.args.get("next")), code=303)
    elif form.errors.get("csrf_token"):
        problem = "This page was open too long or cookies are off: please sign in again."
    return render_template("admin/sign_in.html", form=form, problem=problem,
                           lead_form=LeadLinkForm(prefix="lead")), 400 if problem else 200


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """Sign out (a POST, so a link or an image cannot sign anyone out)."""
    if ActionForm().validate_on_submit():
        session.clear()
        flash("You are signed out.")
    return redirect(url_for("admin.sign_in"), code=303)


@bp.route("/sign-in/lead", methods=["POST"])
@rate_limited("token")
def lead_sign_in() -> ResponseReturnValue:
    """Email a lead a sign-in link; say the same whether or not the address leads anything."""
    form = LeadLinkForm(prefix="lead")
    if not form.validate_on_submit():
        return render_template("admin/sign_in.html", form=SignInForm(), lead_form=form,
                               problem="Type the address your coalition knows you by."), 400
    with session_scope(settings().database_url) as db:
        token = admins.issue_sign_in_link(db, form.email.data or "")
    if token is not None:
        try:
            admins.send_message(settings(), admins.sign_in_message(
                settings(), form.email.data or "", token))
        except DeliveryError as exc:
            log.warning("sign-in link not sent: %s", exc)
            return render_template("admin/message.html", title="The email did not go out",
                                   message="Please try again in a few minutes."), 503
    return render_template(
        "admin/message.html", title="Check your email",
        message="If that address leads a coalition, a sign-in link is on its way. It works "
                "once, for 15 minutes.")


@bp.get("/sign-in/link/<token>")
@rate_limited("token")
def lead_link(token: str) -> ResponseReturnValue:
    """Show a button that uses the link (a GET changes nothing: mail scanners open links)."""
    with session_scope(settings().database_url, read_only=True) as db:
        state = admins.check_sign_in_link(db, token)
    return render_template("admin/lead_link.html", state=state, form=ActionForm(),
                           token=token), 200 if state.usable else 410


@bp.post("/sign-in/link/<token>")
@rate_limited("token")
def lead_link_confirm(token: str) -> ResponseReturnValue:
    """Use a sign-in link once and sign the lead in."""
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("admin/message.html", title="Please press the button again",
                               message="This page was open too long or cookies are off."), 400
    try:
        with session_scope(settings().database_url) as db:
            email = admins.redeem_sign_in_link(db, token)
    except admins.SignInRefused as exc:
        return render_template("admin/message.html", title="This link does not work",
                               message=str(exc)), 410
    session.clear()
    session.update(kind="lead", email=email, since=int(time.time()))
    return redirect(url_for("admin.index"), code=303)


# --- coalitions ---------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    """List the coalitions (a lead sees the ones they lead) and, for admins, the upload form."""
    who = viewer()
    with session_scope(settings().database_url, read_only=True) as db:
        found = [c for c in list_coalitions(db) if who.can_see(c.slug)]
    return render_template("admin/index.html", coalitions=found,
                           upload=CoalitionUploadForm() if who.is_admin else None)


def read_upload(file: FileStorage | None, what: str = "the file") -> tuple[str, str]:
    """Return an uploaded file's name and UTF-8 text, or raise a LoadError saying why not."""
    if file is None:
        raise LoadError("upload", ["no file was chosen"])
    name = file.filename or "upload"
    data = file.read()
    if not data.strip():
        raise LoadError(name, ["the file is empty"])
    return name, decode_upload(data, name, what)


def problems_of(exc: FixableError) -> list[str]:
    """Return the problems an error names, one per line."""
    return list(getattr(exc, "problems", None) or [str(exc)])


def preview_page(kind: str, *, summary: LoadSummary | None = None, filename: str = "",
                 problems: list[str] | None = None, apply: ApplyUploadForm | None = None,
                 slug: str = "") -> ResponseReturnValue:
    """Render what an upload would change, or the problems that stop it."""
    return render_template("admin/upload_preview.html", kind=kind, summary=summary,
                           filename=filename, problems=problems or [], apply=apply,
                           slug=slug), 400 if problems else 200


@bp.post("/coalitions/upload")
def upload_coalition() -> ResponseReturnValue:
    """Work out what a coalition file would change (a dry run) and show it before applying."""
    form = CoalitionUploadForm()
    if not form.validate_on_submit():
        return preview_page("coalition", problems=[
            *(f"{form[f].label.text}: {' '.join(e)}" if f in form else " ".join(e)
              for f, e in form.errors.items())])
    try:
        filename, text = read_upload(form.file.data)
        with session_scope(settings().database_url) as db:
            summary = load_coalition_text(db, text, filename, prune=form.prune.data,
                                          dry_run=True)
    except LoadError as exc:
        return preview_page("coalition", filename=getattr(form.file.data, "filename", ""),
                            problems=problems_of(exc))
    apply = ApplyUploadForm(formdata=None, content=text, filename=filename,
                            prune="1" if form.prune.data else "")
    return preview_page("coalition", summary=summary, filename=filename, apply=apply)


@bp.post("/coalitions/apply")
def apply_coalition() -> ResponseReturnValue:
    """Load a previewed coalition file for real (checked again: it may have changed since)."""
    form = ApplyUploadForm()
    if not form.validate_on_submit():
        return preview_page("coalition", problems=["The preview expired: upload the file again."])
    filename = form.filename.data or "upload"
    try:
        with session_scope(settings().database_url) as db:
            summary = load_coalition_text(db, form.content.data or "", filename,
                                          prune=bool(form.prune.data))
    except LoadError as exc:
        return preview_page("coalition", filename=filename, problems=problems_of(exc))
    flash(f"{filename}: " + "; ".join(summary.lines()))
    for warning in summary.warnings:
        flash(f"Warning: {warning}")
    return redirect(url_for("admin.coalition", slug=summary.coalition), code=303)


@bp.get("/c/<slug>")
def coalition(slug: str) -> ResponseReturnValue:
    """Show one coalition: its people, metrics, rounds, and (for admins) what can be done."""
    with session_scope(settings().database_url, read_only=True) as db:
        found = get_coalition(db, slug)
        people = list_people(db, found)
        rounds = list_rounds(db, found)
        orgs = {o.id: o.name for o in db.exec(
            select(Organisation).where(Organisation.coalition_id == found.id))}
        metrics = [(m, orgs.get(m.owner_organisation_id, "")) for m in db.exec(
            select(Metric).where(Metric.coalition_id == found.id, col(Metric.active).is_(True))
            .order_by(col(Metric.id)))]
    tz = found.timezone
    shown_rounds = [{"r": r, "opened": format_local_short(r.opened_at, tz),
                     "end": (f"closed {format_local_short(r.closed_at, tz)}" if r.closed_at
                             else f"closes {format_local_short(r.closes_at, tz)}")}
                    for r in reversed(rounds)]
    open_round = next((r for r in rounds if r.closed_at is None), None)
    return render_template("admin/coalition.html", coalition=found, people=people,
                           metrics=metrics, rounds=shown_rounds, open_round=open_round,
                           people_form=PeopleUploadForm() if viewer().is_admin else None)


@bp.post("/c/<slug>/people/upload")
def upload_people(slug: str) -> ResponseReturnValue:
    """Work out what a people CSV would change and show it before applying."""
    form = PeopleUploadForm()
    if not form.validate_on_submit():
        return preview_page("people", slug=slug, problems=[
            " ".join(e) for e in form.errors.values()])
    try:
        filename, text = read_upload(form.file.data, "the CSV")
        with session_scope(settings().database_url) as db:
            summary = import_people(db, slug, text, filename, dry_run=True)
    except LoadError as exc:
        return preview_page("people", slug=slug, problems=problems_of(exc),
                            filename=getattr(form.file.data, "filename", ""))
    apply = ApplyUploadForm(formdata=None, content=text, filename=filename)
    return preview_page("people", slug=slug, summary=summary, filename=filename, apply=apply)


@bp.post("/c/<slug>/people/apply")
def apply_people(slug: str) -> ResponseReturnValue:
    """Import a previewed people CSV for real."""
    form = ApplyUploadForm()
    if not form.validate_on_submit():
        return preview_page("people", slug=slug,
                            problems=["The preview expired: upload the file again."])
    filename = form.filename.data or "upload"
    try:
        with session_scope(settings().database_url) as db:
            summary = import_people(db, slug, form.content.data or "", filename)
    except LoadError as exc:
        return preview_page("people", slug=slug, filename=filename, problems=problems_of(exc))
    flash(f"{filename}: " + "; ".join(summary.lines()))
    return redirect(url_for("admin.coalition", slug=slug), code=303)


# --- rounds -------------------------------------------------------------------------------


def queue(delivery_ids: list[int]) -> str:
    """Queue emails for the worker; say what happened in words for the page."""
    try:
        queued = enqueue_sends(settings(), delivery_ids)
    except QueueUnavailable as exc:
        log.warning("emails saved, not queued: %s", exc)
        return (f"{plural(len(delivery_ids), 'email')} saved but not queued (Redis did not "
                "answer); a worker or `cos reconcile` sends them once it does.")
    return f"{plural(queued, 'email')} queued for sending."


@bp.route("/c/<slug>/rounds/new", methods=["GET", "POST"])
def new_round(slug: str) -> ResponseReturnValue:
    """Preview a round's invitation, send a test to yourself, or start the round."""
    form = StartRoundForm()
    with session_scope(settings().database_url, read_only=True) as db:
        found = get_coalition(db, slug)
    problem, notice, preview = "", "", None
    closes_in = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            closes_in = parse_duration(form.closes_in.data or "")
            if form.start.data:
                with session_scope(settings().database_url) as db:
                    opened, ids = start_round(db, settings().secret_key, slug, closes_in,
                                              kind=form.kind.data or "checkin")
                    round_id = opened.id
                flash(f"Round {opened.number} is open. " + queue(ids))
                return redirect(url_for("admin.round", round_id=round_id), code=303)
            if form.test.data:
                subject = test_invitation(settings(), slug, closes_in, viewer().email)
                notice = f"A test invitation ({subject}) went to {viewer().email}."
        except FixableError as exc:
            problem = str(exc)
        except DeliveryError as exc:
            problem = f"The test did not go out: {exc}"
    elif request.method == "POST":
        problem = " ".join(" ".join(e) for e in form.errors.values())
    if closes_in is None and not problem:
        try:
            closes_in = parse_duration(form.closes_in.data or "72h")
        except FixableError as exc:
            problem = str(exc)
    if closes_in is not None:
        try:
            message = first_invitation(settings(), slug, closes_in)
            preview = {"subject": message["Subject"], "to": message["To"],
                       "text": _part(message, "plain")}
        except (FixableError, LookupError) as exc:
            problem = problem or str(exc)
    return render_template("admin/new_round.html", coalition=found, form=form, problem=problem,
                           notice=notice, preview=preview), 400 if problem else 200


def _part(message: Any, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None else ""


@bp.get("/c/<slug>/rounds/invitation.html")
def invitation_html(slug: str) -> ResponseReturnValue:
    """The previewed invitation's HTML part, framed by the new-round page."""
    try:
        closes_in = parse_duration(request.args.get("closes_in", "72h"))
        message = first_invitation(settings(), slug, closes_in)
    except (FixableError, LookupError) as exc:
        abort(400, description=str(exc))
    return email_html(_part(message, "html"))


def email_html(html: str) -> ResponseReturnValue:
    """Serve an email's HTML for a frame on our own pages."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/rounds/<int:round_id>", endpoint="round")
def round_page(round_id: int) -> ResponseReturnValue:
    """The live status board: who was invited, reached, answered, with when."""
    with session_scope(settings().database_url, read_only=True) as db:
        board = status_board(db, round_id)
        found = get_coalition(db, board["coalition"])
    page = render_template("admin/round.html", board=board, coalition=found, form=ActionForm())
    return page, {"Content-Security-Policy": BOARD_CSP if board["open"] else ADMIN_CSP}


@bp.get("/rounds/<int:round_id>/status.json")
def round_json(round_id: int) -> ResponseReturnValue:
    """The status board as JSON, polled by the board's script."""
    with session_scope(settings().database_url, read_only=True) as db:
        return status_board(db, round_id)


@bp.post("/rounds/<int:round_id>/remind")
def remind(round_id: int) -> ResponseReturnValue:
    """Send the invitation again, with the same link, to everyone who has not answered."""
    if ActionForm().validate_on_submit():
        with session_scope(settings().database_url) as db:
            if get_round(db, round_id).closed_at is not None:
                abort(409, description="This round is closed: there is nobody to remind.")
            ids = remind_silent(db, round_id)
        flash(f"Reminding {plural(len(ids), 'silent partner')}. " + queue(ids) if ids
              else "Nobody is silent: there is nobody to remind.")
    else:
        flash("Nothing was sent: the page was open too long. Press the button again.")
    return redirect(url_for("admin.round", round_id=round_id), code=303)


@bp.post("/rounds/<int:round_id>/close")
def close(round_id: int) -> ResponseReturnValue:
    """Close the round, merge every answer, and send the digest to the leads."""
    if not ActionForm().validate_on_submit():
        flash("Nothing was closed: the page was open too long. Press the button again.")
        return redirect(url_for("admin.round", round_id=round_id), code=303)
    report = finish_round(settings(), round_id)
    if report.merge_problem:
        flash(f"The round is closed, but merging the answers failed ({report.merge_problem}): "
              "no digest was sent. `cos campaign close` tries again.")
    else:
        digest = report.digest
        flash(f"The round is closed: {plural(report.answers, 'answer')} merged; the digest went "
              f"to {plural(len(digest.sent), 'lead')}"
              + (f", and failed for {', '.join(digest.failed)}" if digest.failed else "") + ".")
    return redirect(url_for("admin.round", round_id=round_id), code=303)


# --- digest, scoreboard and email previews -------------------------------------------------


@bp.get("/rounds/<int:round_id>/digest")
def digest(round_id: int) -> ResponseReturnValue:
    """Preview the round's digest as the leads get it: HTML and text side by side."""
    from pipeline.digest import render_digest

    with session_scope(settings().database_url) as db:
        board = status_board(db, round_id)
        rendered = render_digest(db, settings(), round_id)
    return render_template("admin/digest.html", board=board, rendered=rendered)


@bp.get("/rounds/<int:round_id>/digest.html")
def digest_html(round_id: int) -> ResponseReturnValue:
    """The digest's HTML part, framed by the digest page."""
    from pipeline.digest import render_digest

    with session_scope(settings().database_url) as db:
        get_round(db, round_id)
        return email_html(render_digest(db, settings(), round_id).html)


@bp.get("/c/<slug>/scoreboard")
def scoreboard(slug: str) -> ResponseReturnValue:
    """The latest round's scoreboard, the COS model's phase state and next moves with each
    metric's sparkline (what `cos scoreboard SLUG` prints), win-echo marks, every past round."""
    from pipeline.core.onepage import sparkline_points
    from pipeline.cos_model import echo_answers, one_page_view
    from pipeline.digest import scoreboard_for

    with session_scope(settings().database_url) as db:
        found = get_coalition(db, slug)
        rounds = list_rounds(db, found)
        latest = rounds[-1] if rounds else None
        data = scoreboard_for(db, latest.campaign) if latest else None
        view = one_page_view(db, get_round(db, latest.campaign)) if latest else None
        echo_round = next((r for r in reversed(rounds)
                           if get_round(db, r.campaign).kind == "win-echo"), None)
        echoes = echo_answers(db, echo_round.campaign) if echo_round else []
    tz = found.timezone
    past = [{"r": r, "opened": format_local_short(r.opened_at, tz),
             "end": (f"closed {format_local_short(r.closed_at, tz)}" if r.closed_at
                     else f"open until {format_local_short(r.closes_at, tz)}")}
            for r in reversed(rounds)]
    mark_form = EchoMarkForm() if viewer().is_admin else None
    return render_template("admin/scoreboard.html", coalition=found, latest=latest, data=data,
                           past=past, view=view, sparkline=sparkline_points,
                           echo_round=echo_round, echoes=echoes, mark_form=mark_form)


@bp.post("/rounds/<int:round_id>/echo")
def echo_mark(round_id: int) -> ResponseReturnValue:
    """Set a lead's mark over the suggested one on a win-echo answer (`cos echo mark`)."""
    from pipeline.cos_model import override_echo_mark
    from pipeline.rounds import find_person

    form = EchoMarkForm()
    with session_scope(settings().database_url) as db:
        found = get_round(db, round_id)
        coalition = db.get(Coalition, found.coalition_id)
        assert coalition is not None
        slug = coalition.slug
        if not form.validate_on_submit():
            flash("No mark was set: the page was open too long. Please try again.")
        else:
            person, _ = find_person(db, coalition, form.email.data or "")
            try:
                if person is None:
                    raise LookupError(f"nobody in {slug} has the address {form.email.data}")
                row = override_echo_mark(db, found, person,
                                         None if form.mark.data == "clear" else form.mark.data)
                flash(f"{person.name}: marked {row.mark} (suggested {row.suggested}).")
            except (LookupError, ValueError) as exc:
                flash(f"No mark was set: {exc}.")
    return redirect(url_for("admin.scoreboard", slug=slug) + "#echo-h", code=303)


@bp.get("/emails")
def emails() -> ResponseReturnValue:
    """Every email the app sends, rendered with example data: HTML and text side by side."""
    return render_template("admin/emails.html", examples=example_emails())


@bp.get("/emails/<path:name>.html")
def email_example_html(name: str) -> ResponseReturnValue:
    """One example email's HTML part, framed by the email previews page."""
    found = example_email(name)
    if found is None:
        abort(404, description="There is no such email.")
    return email_html(found.rendered.html)
