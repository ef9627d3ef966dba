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
    """Build the web app from settings (read from COS_* variables when not given).

    COS_RATE_LIMIT (default 60/minute) limits the requests per client address on pages that
    take a link's token; COS_TRUSTED_PROXIES lists the reverse proxies (addresses or networks)
    whose X-Forwarded-For is believed. See forms/ratelimit.py.
    """
    from forms.ratelimit import TrustedProxies, parse_proxies, rate_from_env
    from pipeline.logcontext import install_redaction

    settings = settings or Settings.from_env()
    install_redaction()  # request paths carry the partners' tokens: keep them out of logs
    app = Flask(__name__)
    # Read at start, so a mistyped value stops the app with a clear message.
    app.config["COS_RATE_LIMITS"] = {b: rate_from_env(b) for b in ("token", "api")}
    proxies = parse_proxies(os.environ.get("COS_TRUSTED_PROXIES", ""))
    if proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)  # type: ignore[method-assign]
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
    from forms.languages import install_languages
    from forms.ratelimit import rate_limited

    install_languages(app)

    app.register_blueprint(checkin.bp)
    from forms import mail_choices

    app.register_blueprint(mail_choices.bp)
    from forms import api

    app.register_blueprint(api.bp)
    from forms import funder

    app.register_blueprint(funder.bp)
    from forms import admin

    admin.init_app(app)
    if dev_outbox:
        from forms import outbox

        app.register_blueprint(outbox.bp)
    app.config["COS_DEV_OUTBOX"] = dev_outbox

    https = settings.base_url.startswith("https://")

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if https:  # browsers then never try the partner's link over plain HTTP again
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if isinstance(exc, InternalServerError):
            log.error("internal error", exc_info=exc.original_exception)
        if request.path.startswith("/api/"):  # API clients read JSON, errors included
            message = ("something went wrong on our side; try again in a few minutes"
                       if isinstance(exc, InternalServerError) else exc.description)
            return {"error": message, "status": exc.code or 500}, exc.code or 500
        if isinstance(exc, InternalServerError):
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
    @rate_limited("token")
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
