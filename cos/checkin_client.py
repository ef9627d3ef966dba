"""A partner's check-in form filled over HTTP as a browser would, for the demo and the tests.

It reads the page the way a person does (the form's own fields, hints and choices) and posts
the answers with the page's CSRF token and cookie, so whoever uses it goes through the real app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import lxml.html
import requests

from forms.checkin_form import commitment_of, note_field

Answers = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class MetricBox:
    """A number box on the form, with the figures its hint shows."""

    field: str
    baseline: float
    target: float
    last: float | None


@dataclass
class CheckinPage:
    """One partner's check-in page, opened over HTTP in its own browser-like session."""

    link: str
    http: requests.Session
    response: requests.Response

    @classmethod
    def open(cls, link: str, http: requests.Session | None = None) -> CheckinPage:
        """GET a check-in link (raising for a page that is not a form)."""
        http = http or requests.Session()
        response = http.get(link, timeout=10)
        response.raise_for_status()
        return cls(link, http, response)

    @property
    def html(self) -> str:
        """Return the page's HTML."""
        return self.response.text

    def _form(self) -> lxml.html.FormElement:
        return lxml.html.fromstring(self.html).forms[0]

    def commitments(self) -> list[tuple[str, str]]:
        """Return the (status field, note field) pairs of the commitments the page asks about."""
        names = sorted({el.name for el in self._form().inputs if el.name})
        return [(name, note_field(cid)) for name in names if (cid := commitment_of(name))]

    def metrics(self) -> list[MetricBox]:
        """Return the number boxes with their baseline, target and last reading."""
        boxes = []
        for field in lxml.html.fromstring(self.html).xpath("//input[@inputmode='decimal']"):
            # The hint writes figures the coalition's way (2,100 or 2.100); each one's <data>
            # element holds it machine-readable, as a float writes itself.
            hint = field.getparent().find_class("hint")
            figures = {el.get("class"): float(el.get("value"))
                       for el in (hint[0].iter("data") if hint else ())}
            if "baseline" not in figures or "target" not in figures:
                raise ValueError(f"no baseline/target hint beside the box {field.name}")
            boxes.append(MetricBox(field.name, figures["baseline"], figures["target"],
                                   figures.get("last")))
        return boxes

    def organisations(self) -> list[str]:
        """Return the values of the "who helped you" choices."""
        return [str(el.get("value")) for el in
                lxml.html.fromstring(self.html).xpath("//input[@name='helped_by']")]

    def submit(self, answers: Answers) -> requests.Response:
        """POST these answers with the page's CSRF token; the response is the next page."""
        pairs: list[tuple[str, str]] = [("csrf_token", str(self._form().fields["csrf_token"]))]
        for name, value in answers.items():
            pairs.extend((name, v) for v in (value if isinstance(value, list) else [value]))
        result = self.http.post(self.link, data=pairs, timeout=10, allow_redirects=True)
        self.response = result  # an error page carries a fresh form to answer again
        return result


def answer(link: str, answers: Answers) -> requests.Response:
    """Open a check-in link and submit these answers like a browser would."""
    return CheckinPage.open(link).submit(answers)
