"""A local outbox viewer for development: read the emails a file outbox holds, click their links."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue

from emails import FileOutbox

bp = Blueprint("outbox", __name__, url_prefix="/dev/outbox")


def outbox() -> FileOutbox:
    """Return the configured file outbox, or 404 when mail goes elsewhere."""
    url = current_app.config["COS_SETTINGS"].mail_url
    if not url.startswith("file://"):
        abort(404, description="The local outbox is only there when COS_MAIL_URL is a file:// URL.")
    return FileOutbox(Path(url2pathname(urlsplit(url).path)))


def find(name: str) -> tuple[Path, EmailMessage]:
    """Return one stored message by file name."""
    path = outbox().find(name)
    if path is None:
        abort(404, description="No such email in the outbox.")
    return path, FileOutbox.read_message(path)


def part(message: EmailMessage, subtype: str) -> str:
    """Return a message's text or HTML part."""
    body = message.get_body(preferencelist=(subtype,))
    return body.get_content() if body is not None else ""


# Message-IDs the app writes: <cos.ROUND.PERSON.KIND.DELIVERY@domain>
KIND_RE = re.compile(r"<cos\.\d+\.\d+\.([a-z_-]+)\.\d+@")


def kind_of(message: EmailMessage) -> str:
    """Return the email kind an outbox message was sent as (from its Message-ID), or ''."""
    found = KIND_RE.match(str(message["Message-ID"] or ""))
    return found.group(1) if found else ""


def sent_on(message: EmailMessage) -> str:
    """Return the message's Date as '27 Nov 2026 09:05 UTC', or '' when it has none."""
    try:
        moment = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return ""
    return f"{moment.day} {moment:%b %Y %H:%M} {moment.tzname() or ''}".strip()


@bp.get("/")
def index() -> ResponseReturnValue:
    """List the emails in the outbox, newest first."""
    rows = []
    for path in reversed(outbox().list()):
        message = FileOutbox.read_message(path)
        rows.append({"name": path.name, "to": message["To"], "subject": message["Subject"],
                     "date": sent_on(message), "kind": kind_of(message)})
    return render_template("outbox/index.html", rows=rows)


@bp.get("/<name>")
def show(name: str) -> ResponseReturnValue:
    """Show one email's headers and text part, with a link to its HTML part."""
    path, message = find(name)
    return render_template("outbox/show.html", name=path.name, message=message,
                           text=part(message, "plain"))


@bp.get("/<name>/html")
def html(name: str) -> ResponseReturnValue:
    """Serve an email's HTML part as the recipient's mail program would show it."""
    _path, message = find(name)
    response = current_app.response_class(part(message, "html"), mimetype="text/html")
    # Emails carry inline styles; allow those here only, and still no scripts.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
    return response
