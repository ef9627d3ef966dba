"""The WSGI entry point from the checkout: `gunicorn wsgi:app` (anywhere else: `cos.wsgi:app`)."""

from cos.wsgi import app

__all__ = ["app"]
