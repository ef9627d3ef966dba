"""The funder's page: a read-only scoreboard at a signed, revocable link per coalition.

The link is ``/f/<slug>/<token>``, the token an HMAC under COS_SECRET_KEY of the coalition's
``funder_salt``; a new salt (``cos funder-link SLUG --new``) revokes the old link, an empty one
(``--revoke``) turns the page off. The page names no person and no silent partner and shows no
free-text note unless the coalition file says ``funder_notes = true``.
"""

from __future__ import annotations

import hmac
from typing import Any

from sqlmodel import Session, select

from pipeline.cos_model import one_page_view
from pipeline.models import Coalition
from pipeline.rounds import get_coalition, latest_round
from pipeline.tokens import derive_token, looks_like_token, new_salt


def funder_token(secret_key: str, salt: str) -> str:
    """Return the funder link's token for a coalition's salt."""
    return derive_token(secret_key, "funder:" + salt)


def funder_link(session: Session, base_url: str, secret_key: str, slug: str, *,
                new: bool = False, revoke: bool = False) -> str | None:
    """Return a coalition's funder link (making one when there is none or ``new``);
    with ``revoke``, turn the page off and return None."""
    coalition = get_coalition(session, slug)
    if revoke:
        coalition.funder_salt = ""
    elif new or not coalition.funder_salt:
        coalition.funder_salt = new_salt()
    session.add(coalition)
    if not coalition.funder_salt:
        return None
    return f"{base_url}/f/{slug}/{funder_token(secret_key, coalition.funder_salt)}"


def funder_view(session: Session, secret_key: str, slug: str, token: str
                ) -> dict[str, Any] | None:
    """Return the funder page's data for a valid link, or None (the same for every bad link)."""
    if not looks_like_token(token):
        return None
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first()
    if coalition is None or not coalition.funder_salt:
        return None
    if not hmac.compare_digest(token, funder_token(secret_key, coalition.funder_salt)):
        return None
    round_ = latest_round(session, coalition)
    if round_ is None:
        return {"coalition": {"name": coalition.name, "win": coalition.win},
                "stage": coalition.stage, "round": None}
    return one_page_view(session, round_, public=True)
