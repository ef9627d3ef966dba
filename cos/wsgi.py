"""The web app for a WSGI server, importable from any directory: `gunicorn cos.wsgi:app`.

Settings come from the COS_* variables; the app says at start which database, Redis and mail
transport it uses, on the server's log (stderr).
"""

from __future__ import annotations

import sys

from forms import create_app
from pipeline.config import Settings

settings = Settings.from_env()
print(f"COS Cadence web app using {settings.describe()}", file=sys.stderr, flush=True)
app = create_app(settings)
