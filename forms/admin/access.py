"""Who is signed in to the admin pages, and what they may open."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from forms.admin import SESSION_LIFETIME
from pipeline.admins import get_admin, led_coalitions
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Coalition, Round

# Open to everyone: the ways in.
PUBLIC = frozenset({"admin.sign_in", "admin.lead_sign_in", "admin.lead_link",
                    "admin.lead_link_confirm", "admin.sign_out"})
# What a lead may open (GET only), for the coalitions they lead.
LEAD_READABLE = frozenset({"admin.index", "admin.coalition", "admin.round", "admin.round_json",
                           "admin.digest", "admin.digest_html", "admin.scoreboard",
                           "admin.cadence"})


@dataclass(frozen=True)
class Viewer:
    """The person signed in: an admin (everything) or a lead (their coalitions, read-only)."""

    kind: str  # "admin" or "lead"
    email: str
    slugs: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        """Say whether this is an admin."""
        return self.kind == "admin"

    def can_see(self, slug: str) -> bool:
        """Say whether this person may look at a coalition."""
        return self.is_admin or slug in self.slugs


def settings() -> Settings:
    """Return the app's settings."""
    found: Settings = current_app.config["COS_SETTINGS"]
    return found


def load_viewer() -> Viewer | None:
    """Read who is signed in from the session, checked against the database every request."""
    kind, email = session.get("kind"), session.get("email")
    if kind not in ("admin", "lead") or not isinstance(email, str):
        return None
    since = session.get("since")
    if not isinstance(since, int | float) or time.time() - since > SESSION_LIFETIME.total_seconds():
        return None
    with session_scope(settings().database_url, read_only=True) as db:
        if kind == "admin":
            admin = get_admin(db, int(session.get("admin_id") or 0))
            return Viewer("admin", admin.email) if admin and admin.email == email else None
        slugs = frozenset(c.slug for c in led_coalitions(db, email))
    return Viewer("lead", email, slugs) if slugs else None


def coalition_of(view_args: dict[str, Any]) -> str | None:
    """Return the slug of the coalition a URL is about (by slug or round id), if any."""
    if "slug" in view_args:
        return str(view_args["slug"])
    if "round_id" in view_args:
        with session_scope(settings().database_url, read_only=True) as db:
            round_ = db.get(Round, int(view_args["round_id"]))
            if round_ is None:
                abort(404, description="There is no such round.")
            coalition = db.get(Coalition, round_.coalition_id)
            return coalition.slug if coalition else None
    return None


def gate() -> ResponseReturnValue | None:
    """Let a request through, send a signed-out visitor to sign in, or refuse with 403."""
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC:
        return None
    viewer = load_viewer()
    if viewer is None:
        session.pop("kind", None)
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("admin.sign_in", next=target))
    request.environ["cos.viewer"] = viewer
    if viewer.is_admin:
        return None
    if endpoint not in LEAD_READABLE or request.method not in ("GET", "HEAD"):
        abort(403, description="This page is for admins; leads can read their coalitions.")
    slug = coalition_of(request.view_args or {})
    if slug is not None and not viewer.can_see(slug):
        abort(403, description="You lead another coalition: this one is not yours to see.")
    return None


def viewer() -> Viewer:
    """Return who is signed in (the gate has checked there is someone)."""
    found: Viewer = request.environ["cos.viewer"]
    return found


def safe_next(target: str | None) -> str:
    """Return where to go after signing in: an admin path only, never another site."""
    if target and target.startswith("/admin/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return url_for("admin.index")
