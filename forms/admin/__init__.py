"""The admin pages: admins run coalitions and rounds; leads sign in by email and look.

Every URL under /admin goes through one gate (access.gate): a signed-out visitor is sent to
sign in, a lead may only read the coalitions they lead, and everything else is for admins.
The views call the same pipeline functions as the `cos` commands.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

# A sign-in lasts a working day, not for ever (checked against the time stored at sign-in,
# so the partner pages' sessions keep their own lifetime).
SESSION_LIFETIME = timedelta(hours=12)


def init_app(app: Flask) -> None:
    """Register the admin pages on the app."""
    from forms.admin import jobs, manage, views  # manage and jobs add pages to views.bp

    assert manage.bp is views.bp and jobs.bp is views.bp

    app.register_blueprint(views.bp)
