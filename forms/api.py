"""The read-only JSON API: a coalition's scoreboard and rounds, for holders of its API token.

Described by forms/openapi.yaml (served at /api/v1/openapi.yaml); every answer, errors
included, is JSON. A token reads only its own coalition: any other slug is a 404, the same as a
slug that does not exist, so a token tells nothing about other coalitions.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from forms.ratelimit import rate_limited
from pipeline.api import coalition_doc, coalition_for_token, round_doc, rounds_doc, scoreboard_doc
from pipeline.db import session_scope

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def problem(status: int, message: str, **headers: str) -> ResponseReturnValue:
    return {"error": message, "status": status}, status, headers


def _settings() -> Any:
    return current_app.config["COS_SETTINGS"]


def _with_coalition(slug: str, build: Any) -> ResponseReturnValue:
    """Check the bearer token, then build the document for the token's coalition."""
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(401, "send the coalition's API token as Authorization: Bearer <token> "
                            "(`cos api-token create SLUG --name WHO` makes one)",
                       **{"WWW-Authenticate": 'Bearer realm="cos"'})
    with session_scope(_settings().database_url) as session:
        coalition = coalition_for_token(session, token.strip())
        if coalition is None:
            return problem(401, "this API token is wrong or was revoked: ask the coalition's "
                                "admin for a new one",
                           **{"WWW-Authenticate": 'Bearer realm="cos", error="invalid_token"'})
        if coalition.slug != slug:
            return problem(404, f"no coalition {slug!r} for this token")
        doc = build(session, coalition)
    if doc is None:
        return problem(404, "nothing here yet: the coalition has no such round")
    return doc


@bp.get("/coalitions/<slug>")
@rate_limited("api")
def coalition(slug: str) -> ResponseReturnValue:
    return _with_coalition(slug, coalition_doc)


@bp.get("/coalitions/<slug>/rounds")
@rate_limited("api")
def rounds(slug: str) -> ResponseReturnValue:
    return _with_coalition(slug, rounds_doc)


@bp.get("/coalitions/<slug>/rounds/<int:number>")
@rate_limited("api")
def one_round(slug: str, number: int) -> ResponseReturnValue:
    return _with_coalition(slug, lambda s, c: round_doc(s, c, number))


@bp.get("/coalitions/<slug>/scoreboard")
@rate_limited("api")
def scoreboard(slug: str) -> ResponseReturnValue:
    return _with_coalition(slug, scoreboard_doc)


@bp.get("/openapi.yaml")
def openapi() -> Response:
    """The API's description (OpenAPI 3.1), public: it holds no data."""
    text = files("forms").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")
