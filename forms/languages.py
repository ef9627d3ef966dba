"""The partner pages' language: the person's (else the coalition's), or the browser's.

Pages that know whose link they serve call `use_language(checkin.language)` before they
render; the others (a link that does not work, the index) follow the browser's
Accept-Language among the shipped languages, English otherwise. Every template gets `_`,
`gettext`, `ngettext` and `language` (emails.i18n: one catalog for emails and pages).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request
from markupsafe import Markup, escape

from emails.i18n import DEFAULT_LANGUAGE, LANGUAGES, install, normalise, template_values


def use_language(language: str | None) -> str:
    """Render this request's pages in `language` (a person's or coalition's setting)."""
    g.cos_language = normalise(language)
    return str(g.cos_language)


def current_language() -> str:
    """The language this request's pages are in."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = g.get("cos_language")
    if chosen:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def data_tag(kind: str, value: Any, shown: str) -> Markup:
    """A number for people that keeps its exact value for machines: <data value=...>."""
    return Markup(  # noqa: S704 (each part escaped; an f-string costs a tenth of Markup.format)
        f'<data class="{escape(kind)}" value="{escape(format(value))}">{escape(shown)}</data>')


def install_languages(app: Flask) -> None:
    """Give the app's templates the translation layer, in each request's language."""
    install(app.jinja_env)
    app.jinja_env.globals["data_tag"] = data_tag

    @app.context_processor
    def translations() -> dict[str, Any]:
        return template_values(current_language())
