"""Every email kind comes out byte for byte as render-then-Premailer, while Premailer runs once
per shape of email (emails.inline) instead of once per recipient."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emails import inline, personal
from emails.render import Rendered, premailer_inline, render_email, render_named, render_templates
from tests.test_emails import DIGEST, SCRIPT, digest, invitation

AWKWARD = [
    "Amira O'Neill", 'Say "hi" & <b>bye</b>', "Zoë Ünal-Søndergård", "José\u00a0María",
    "名前 テスト", "emoji 🎉 ok", "a > b < c", "&amp; already", "tab\there", " ", "x" * 300,
    SCRIPT, "cosslot0q looks like a marker",
]
LINKS = [
    "https://cos.example.org/c/3kT9x_Qm2vL8pZr4YbN1wC7eHsJ0aUdF5gKiXoVt6yE",
    "https://cos.example.org/c/a b?x=1&y=\"2\"#frag", "https://exämple.org/ü/ñ",
]


def reference(kind: str, context: dict[str, Any]) -> str:
    """Render then Premailer, the slow way every email used to take."""
    return premailer_inline(render_templates(kind, context)[2])


def contexts() -> list[tuple[str, dict[str, Any]]]:
    """The example contexts, then the same with awkward values and other list lengths."""
    cases: list[tuple[str, dict[str, Any]]] = [("invitation", invitation()), ("digest", digest())]
    for text in AWKWARD:
        cases.append(("invitation", invitation(person_name=text, organisation_name=text,
                                               lead_organisation=text, win=text)))
        cases.append(("invitation", invitation(commitments=[{"text": text, "due": text}],
                                               metrics=[], coalition_name=text)))
        cases.append(("digest", digest(coalition_name=text, wins=[
            {"organisation": text, "person": text, "text": text}])))
    for link in LINKS:
        cases.append(("invitation", invitation(link=link)))
        cases.append(("digest", digest(web_link=link)))
    cases.append(("invitation", invitation(commitments=[], metrics=[], lead_organisation=None,
                                           contact={"name": "Lee", "email": "lee@x.org"})))
    cases.append(("digest", digest(web_link=None, blockers=[], wins=[], help=[])))
    for text in AWKWARD[:4]:  # the account email an admin signs in with
        cases.append(("account/sign_in_link", {
            "link": f"https://cos.example.org/admin/in/{text}", "minutes": 15,
            "footer_reason": f"someone asked to sign in as {text}."}))
    return cases


@pytest.mark.parametrize("kind,context", contexts())
def test_every_kind_is_byte_identical_to_render_then_premailer(kind, context) -> None:
    expected = reference(kind, context)
    assert render_named(kind, context).html == expected  # first of its shape, or a replay
    assert render_named(kind, context).html == expected  # certainly a replay now


def test_premailer_runs_once_per_shape_not_once_per_recipient() -> None:
    inline.clear()
    personal.clear()
    names = [f"Partner {n} & Co <{n}@example.org>" for n in range(20)]
    for name in names:
        context = invitation(person_name=name, link=f"https://cos.example.org/c/{name}")
        assert render_email("invitation", context).html == reference("invitation", context)
    # Premailer ran for one shape; the shape was rendered once with markers, checked against
    # two sample recipients (replays), and filled in for the other 19 recipients.
    counts = inline.stats()
    assert (counts["misses"], counts["hits"], counts["unreplayable"]) == (1, 2, 0)
    filled = personal.stats()
    assert (filled["misses"], filled["hits"], filled["unusable"], filled["full"],
            filled["checked"]) == (1, 19, 0, 0, 1)


def test_a_new_organisations_shape_is_checked_only_when_its_markers_stand_elsewhere() -> None:
    """A round has a shape per organisation (its name, its commitments). The first is checked
    against the full render with sample recipients; the next ones, whose personal values
    stand where the first's did, are filled in without a check of their own, and still equal
    the full render byte for byte."""
    personal.clear()
    for n in range(5):
        for name in ("Ann", "Bo"):
            context = invitation(person_name=name, organisation_name=f"Organisation {n}",
                                 commitments=[{"text": f"Commitment {n} & more", "due": None}],
                                 link=f"https://cos.example.org/c/{name}{n}")
            assert as_tuple(render_email("invitation", context)) == full_render(
                "invitation", context)
    counts = personal.stats()
    assert (counts["misses"], counts["checked"], counts["unusable"]) == (5, 1, 0)
    # One with a personal value more (an unsubscribe link) has markers elsewhere: checked.
    context = invitation(person_name="Cy", organisation_name="Organisation 9",
                         link="https://cos.example.org/c/cy",
                         unsubscribe_link="https://cos.example.org/u/cy")
    assert as_tuple(render_email("invitation", context)) == full_render("invitation", context)
    assert personal.stats()["checked"] == 2


def full_render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, text and HTML the slow way: the templates, then Premailer."""
    subject, text, html = render_templates(kind, context)
    return subject, text, premailer_inline(html)


def as_tuple(rendered: Any) -> tuple[str, str, str]:
    return rendered.subject, rendered.text, rendered.html


@pytest.mark.parametrize("text", AWKWARD + LINKS)
def test_personal_values_filled_in_equal_the_full_render(text: str) -> None:
    """Name and links filled into one rendering per shape: subject, text and HTML identical
    (the reminder carries four personal values, two of them links in attributes)."""
    for kind, context in (
            ("invitation", invitation(person_name=text, link=f"https://cos.example.org/c/{text}")),
            ("invitation", invitation(person_name="Ann", link="https://cos.example.org/c/x",
                                      unsubscribe_link=f"https://cos.example.org/u/{text}")),
            ("reminder", invitation(person_name=text, link=f"https://cos.example.org/c/{text}",
                                    not_this_week_link=f"https://cos.example.org/c/{text}/n",
                                    unsubscribe_link="https://cos.example.org/u/1-x",
                                    closes_at_short="Thu 17:00", last=False))):
        render_email(kind, invitation(person_name="First", link="https://cos.example.org/c/a",
                                      **{k: v for k, v in context.items()
                                         if k not in ("person_name", "link")}))
        assert as_tuple(render_email(kind, context)) == full_render(kind, context)
    assert personal.stats()["unusable"] == 0


def test_both_example_kinds_replay() -> None:
    inline.clear()
    for kind, context in (("invitation", invitation()), ("digest", DIGEST)):
        render_email(kind, context)
    assert inline.stats()["unreplayable"] == 0


text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=text, org=text, commitment=text, link=text)
def test_any_text_in_any_slot_replays_exactly(name: str, org: str, commitment: str,
                                              link: str) -> None:
    context = invitation(person_name=name, organisation_name=org,
                         commitments=[{"text": commitment, "due": None}],
                         link=f"https://cos.example.org/c/{link}")
    assert as_tuple(render_email("invitation", context)) == full_render("invitation", context)


def test_a_shape_that_does_not_check_always_takes_the_full_path() -> None:
    """A rendering whose filled-in samples differ from the full render (here: a full render
    that says something else) is never used; every email of that shape is rendered whole."""
    personal.clear()
    calls: list[str] = []

    def full(name: str, context: Any) -> Any:
        calls.append(context["person_name"])
        return Rendered("other", "other\n", "<p>other</p>")

    for name in ("Ann", "Bo"):
        got = personal.render_personal("invitation", invitation(person_name=name), full)
        assert got == Rendered("other", "other\n", "<p>other</p>")
    assert personal.stats()["unusable"] == 1
    assert calls[-2:] == ["Ann", "Bo"]  # after the failed check, each one in full


def test_a_new_shape_of_known_elements_is_inlined_without_premailer() -> None:
    # A forked worker knows what warm() taught it; a digest of another length is a new shape,
    # built from the elements already inlined (no Premailer run), byte for byte the same.
    from emails.render import warm

    inline.clear()
    warm()
    before = inline.stats()
    for n in (0, 3, 40):
        context = digest(wins=[{"organisation": f"Org {i}", "person": f"P {i} & <Co>",
                                "text": f"Win {i}"} for i in range(n)],
                         metrics=[{**DIGEST["scoreboard"]["metrics"][0], "key": f"k{i}",
                                   "progress": i * 7 % 101} for i in range(n)])
        assert render_email("digest", context).html == reference("digest", context)
    after = inline.stats()
    assert after["misses"] == before["misses"] and after["probes"] == before["probes"]
    assert after["built"] == before["built"] + 3


def test_elements_not_seen_yet_are_learned_from_a_small_probe() -> None:
    inline.clear()
    render_email("invitation", invitation())  # the stylesheet's first document: Premailer
    render_email("digest", DIGEST)  # elements the invitation lacks: a probe teaches them
    counts = inline.stats()
    assert (counts["misses"], counts["probes"], counts["built"]) == (1, 1, 1)
    context = digest(web_link="https://cos.example.org/d/9")
    assert render_email("digest", context).html == reference("digest", context)


def test_only_simple_selectors_are_inlined_element_by_element() -> None:
    assert inline._simple((".a { color: red; } td, p.b { margin: 0 }\n"
                           "@media only screen { .a { color: blue !important; } }",))
    for css in ("td p { color: red }", "a:hover { color: red }", "#x { color: red }",
                "li:first-child { margin: 0 }", "@import url(x.css);"):
        assert not inline._simple((css,)), css
