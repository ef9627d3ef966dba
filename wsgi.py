"""The WSGI entry point for production: `gunicorn wsgi:app` (settings come from COS_* variables)."""

from forms import create_app

app = create_app()
