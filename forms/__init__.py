"""The web app: partner check-in pages (and, in development, a local outbox viewer)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from pipeline.config import Settings

log = logging.getLogger(__name__)

# Partners may leave the form open for hours; after a day the form asks them to press submit
# again, keeping every answer they typed.
CSRF_TIME_LIMIT = timedelta(hours=24)

# Seconds a client is asked to wait (Retry-After) when the database does not answer.
DATABASE_RETRY_AFTER = 30

SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def plain_number(value: float | int | None) -> str:
    """Show a number as people write it: 2100, 3.5 (no trailing .0, no thousands separator)."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def create_app(settings: Settings | None = None, *, dev_outbox: bool = False) -> Flask:
    """Build the web app from settings (read from COS_* variables when not given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        COS_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="cos_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=int(CSRF_TIME_LIMIT.total_seconds()),
        # With Referrer-Policy: no-referrer browsers send no Referer, which Flask-WTF's strict
        # HTTPS check would reject; the session-bound token and SameSite cookie remain.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=256 * 1024,
    )

    from forms import checkin

    app.register_blueprint(checkin.bp)
    if dev_outbox:
        from forms import outbox

        app.register_blueprint(outbox.bp)
    app.config["COS_DEV_OUTBOX"] = dev_outbox

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if isinstance(exc, InternalServerError):
            log.error("internal error", exc_info=exc.original_exception)
            return render_template(
                "problem.html", title="Something went wrong on our side",
                message="Nothing was saved this time. Please go back (your browser usually "
                        "keeps what you typed) and press save again in a few minutes."), 500
        return render_template("problem.html", title=exc.name,
                               message=exc.description), exc.code or 500

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_away(exc: Exception) -> Any:
        # The database is locked, restarting or out of connections for a moment: say so and
        # when to try again, instead of a 500. The transaction was rolled back whole.
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:300])
        body = render_template(
            "problem.html", title="Busy for a moment",
            message="We could not reach our database just now, so nothing was saved this "
                    "time. Please go back (your browser usually keeps what you typed) and "
                    "try again in a minute.")
        return body, 503, {"Retry-After": str(DATABASE_RETRY_AFTER)}

    app.add_template_filter(plain_number, "num")

    @app.get("/")
    def index() -> str:
        return render_template("index.html", dev_outbox=dev_outbox)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Say the process is up (nothing else is checked: a load balancer's liveness probe)."""
        return {"status": "ok"}

    token = os.environ.get("COS_METRICS_TOKEN", "")

    @app.get("/metrics")
    def metrics() -> Any:
        """Prometheus figures for whoever holds COS_METRICS_TOKEN (404 when it is not set)."""
        import hmac

        from prometheus_client import CONTENT_TYPE_LATEST

        from pipeline.metrics import exposition

        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            abort(404)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return {"error": "send Authorization: Bearer <COS_METRICS_TOKEN>"}, 401
        return exposition(settings), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.get("/readyz")
    def readyz() -> Any:
        """Say whether the database and Redis answer; 503 naming the one that does not."""
        from pipeline.health import readiness

        checks = readiness(settings)
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ready" if ready else "not ready", **checks}, 200 if ready else 503

    return app
