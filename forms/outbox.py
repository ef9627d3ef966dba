"""A local outbox viewer for development: read the emails a file outbox holds, click their links."""

from __future__ import annotations

from email.message import EmailMessage
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


@bp.get("/")
def index() -> ResponseReturnValue:
    """List the emails in the outbox, newest first."""
    rows = []
    for path in reversed(outbox().list()):
        message = FileOutbox.read_message(path)
        rows.append({"name": path.name, "to": message["To"], "subject": message["Subject"],
                     "date": message["Date"]})
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
