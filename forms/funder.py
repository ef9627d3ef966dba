"""The funder's read-only page: GET only, no names, no scripts, one column on a phone."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from pipeline.config import Settings
from pipeline.core.onepage import sparkline_points
from pipeline.db import session_scope
from pipeline.funder import funder_view

bp = Blueprint("funder", __name__)


@bp.route("/f/<slug>/<token>", methods=["GET"])
def page(slug: str, token: str) -> ResponseReturnValue:
    """Show a coalition's funder page, or the same "not found" page for every bad link."""
    settings: Settings = current_app.config["COS_SETTINGS"]
    with session_scope(settings.database_url, read_only=True) as session:
        view = funder_view(session, settings.secret_key, slug, token)
    if view is None:
        return render_template(
            "problem.html", title="This link does not work",
            message="The link is wrong, or the coalition has replaced or turned off its "
                    "funder page. Ask the coalition's convener for the current link."), 404
    return render_template("funder.html", view=view, sparkline=sparkline_points)
