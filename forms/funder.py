"""Read-only pages behind signed links: the funder's page (no names, no scripts, one column on
a phone) and the leads' digest in a browser."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template
from flask.typing import ResponseReturnValue

from emails.format import N_
from emails.model_words import translated_model
from forms.languages import use_language
from forms.ratelimit import rate_limited
from pipeline.config import Settings
from pipeline.core.onepage import sparkline_points
from pipeline.db import session_scope
from pipeline.digest import read_digest_link, render_digest
from pipeline.funder import funder_view
from pipeline.models import Round, utcnow

bp = Blueprint("funder", __name__)

NOT_FOUND = N_("The link is wrong, or the coalition has replaced or turned off its "
               "funder page. Ask the coalition's convener for the current link.")


# The digest page is the digest's web version (pipeline.digest.render_digest): its styles are in
# a <style> block and the progress bars' widths in style attributes; no script, ever.
DIGEST_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
              "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


@bp.route("/d/<token>", methods=["GET"])
@rate_limited("token")
def digest(token: str) -> ResponseReturnValue:
    """Show a round's digest as the leads got it, while its signed link has not expired."""
    settings: Settings = current_app.config["COS_SETTINGS"]
    round_id = read_digest_link(settings.secret_key, token, utcnow())
    if round_id is None:
        return render_template(
            "problem.html", title=N_("This link does not work"),
            message=N_("The link is wrong or has expired. The latest digest in your email has "
                       "a fresh one.")), 404
    with session_scope(settings.database_url) as session:
        if session.get(Round, round_id) is None:
            return render_template("problem.html", title=N_("This link does not work"),
                                   message=N_("This round no longer exists.")), 404
        response = make_response(render_digest(session, settings, round_id).html)
    response.headers["Content-Security-Policy"] = DIGEST_CSP
    return response


@bp.route("/f/<slug>/<token>", methods=["GET"])
@rate_limited("token")
def page(slug: str, token: str) -> ResponseReturnValue:
    """Show a coalition's funder page, or the same "not found" page for every bad link."""
    settings: Settings = current_app.config["COS_SETTINGS"]
    with session_scope(settings.database_url, read_only=True) as session:
        view = funder_view(session, settings.secret_key, slug, token)
    if view is None:
        return render_template(
            "problem.html", title=N_("This link does not work"),
            message=NOT_FOUND), 404
    language = use_language(view["coalition"].get("language"))
    if view.get("round"):
        view = translated_model(view, language, view["coalition"].get("locale")) or view
    return render_template("funder.html", view=view, sparkline=sparkline_points)
