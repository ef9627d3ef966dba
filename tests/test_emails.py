"""Tests for emails/: rendering, MIME building and delivery against a real SMTP server."""

from __future__ import annotations

import binascii
import copy
import email.policy
import email.utils
import re
import socket
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emails import (
    Backend,
    DeliveryError,
    FileOutbox,
    Rendered,
    SMTPBackend,
    backend_from_url,
    build_message,
    render_email,
)
from emails.format import num, quantity, signed, text_bar
from emails.message import to_bytes
from tests.conftest_smtp import free_port

if TYPE_CHECKING:
    from tests.conftest_smtp import SMTPSink

# Registers the SMTP server fixtures; harmless once tests/conftest.py lists the plugin too.

SCRIPT = "<script>alert(1)</script>"

INVITATION: dict[str, Any] = {
    "coalition_name": "Riverside Food Coalition",
    "win": "By June 2027, no family in Riverside goes a week without a hot meal.",
    "round_label": "Round 4",
    "person_name": "Amira O'Neill",
    "organisation_name": "Northside Food Bank",
    "link": "https://cos.example.org/c/3kT9x_Qm2vL8pZr4YbN1wC7eHsJ0aUdF5gKiXoVt6yE",
    "closes_at": "Thursday 3 December 2026, 17:00 Europe/London",
    "commitments": [
        {"text": "Open a Saturday pantry at St Mark's hall", "due": "18 December 2026"},
        {"text": "Share the volunteer rota with the school kitchens", "due": None},
    ],
    "metrics": [{"name": "Meals served", "unit": "meals"}, {"name": "Volunteer hours", "unit": ""}],
    "lead_organisation": "Riverside CVS",
    "footer_reason": "Northside Food Bank is a partner in Riverside Food Coalition",
}


def _item(text: str, status: str, *, note: str = "", overdue: bool = False) -> dict[str, Any]:
    """Make a commitment as the scoreboard lists it."""
    return {"text": text, "due": "18 Dec", "status": status, "note": note, "overdue": overdue}


def _metric(key: str, **values: Any) -> dict[str, Any]:
    """Make a scoreboard metric, meals served by default, with some values changed."""
    metric = {
        "key": key, "name": key.title(), "unit": "meals", "owner": "Northside Food Bank",
        "baseline": 800.0, "target": 2000.0, "direction": "up", "value": 1640.0,
        "previous": 1400.0, "change": 240.0, "progress": 70, "reported": True,
    }
    return {**metric, **values}


DIGEST: dict[str, Any] = {
    "coalition_name": "Riverside Food Coalition",
    "win": "By June 2027, no family in Riverside goes a week without a hot meal.",
    "round_label": "Round 4",
    "closes_at": "Thursday 3 December 2026, 17:00 Europe/London",
    "web_link": "https://cos.example.org/d/4/Zm9vYmFy",
    "footer_reason": "you lead Riverside Food Coalition",
    "scoreboard": {
        "response": {
            "invited": 10, "answered": 8, "rate": 0.8,
            "silent": [
                {"name": "Tom Reyes", "organisation": "Eastgate Youth Club"},
                {"name": "Priya Shah", "organisation": "Hope Kitchen"},
            ],
        },
        "commitments": {
            "totals": {"done": 3, "on_track": 5, "slipping": 2, "blocked": 1, "dropped": 1,
                       "no_update": 2, "overdue": 1},
            "by_organisation": [
                {"organisation": "Northside Food Bank", "items": [
                    _item("Open a Saturday pantry", "blocked", note=SCRIPT, overdue=True),
                    _item("Share the volunteer rota", "done"),
                    _item("Recruit five drivers", "on_track"),
                ]},
                {"organisation": "Hope Kitchen", "items": [
                    _item("Cook 200 extra meals a week", "slipping", note="Lost our second cook"),
                ]},
                {"organisation": "Eastgate Youth Club", "items": [
                    _item("Host a cooking class", "on_track"),
                ]},
            ],
        },
        "metrics": [
            _metric("meals"),
            _metric("wait", unit="days", baseline=9.0, target=2.0, direction="down",
                    value=7.5, previous=7.0, change=0.5, progress=21),
           _metric("cost", unit="£", baseline=3.2, target=2.5, direction="down", value=None,
                change=None, progress=None, reported=False),
            _metric("schools", unit="%", value=100.0, change=10.0, progress=100),
        ],
        "wins": [{"organisation": "Hope Kitchen", "person": "Priya Shah",
                  "text": "Fed 312 people at the winter lunch"}],
        "blockers": [
            {"organisation": "Northside Food Bank", "person": "Amira O'Neill",
             "text": "Need a van on Saturdays", "help_wanted": True},
            {"organisation": "Hope Kitchen", "person": "Priya Shah",
             "text": "Fridge broke again", "help_wanted": False},
        ],
        "pulse": {"average": 4.2, "count": 7},
        "help": [{"helper": "Hope Kitchen", "helped": "Northside Food Bank"}],
        "conflicts": [],
    },
}


def invitation(**changes: Any) -> dict[str, Any]:
    """Return a fresh invitation context with some keys changed."""
    return {**copy.deepcopy(INVITATION), **changes}


def digest(**changes: Any) -> dict[str, Any]:
    """Return a fresh digest context with some scoreboard or top-level keys changed."""
    context = copy.deepcopy(DIGEST)
    for key, value in changes.items():
        if key in context["scoreboard"]:
            context["scoreboard"][key] = value
        else:
            context[key] = value
    return context


def parse_html(html: str) -> Any:
    """Parse an email's HTML into an lxml tree."""
    return lxml.html.document_fromstring(html)


def make_message(
    *, to_addr: str = "amira@example.org", message_id: str = "<cos-3-17-invitation@cos.example.org>"
) -> EmailMessage:
    """Build a rendered invitation addressed to someone."""
    return build_message(
        render_email("invitation", INVITATION),
        sender="Riverside Food Coalition <cos@example.org>",
        to_name="Amira O'Neill",
        to_addr=to_addr,
        message_id=message_id,
    )


# Rendering


@pytest.mark.parametrize(("kind", "context"), [("invitation", INVITATION), ("digest", DIGEST)])
def test_each_kind_renders_a_subject_a_text_part_and_an_inlined_html_part(
    kind: str, context: dict[str, Any]
) -> None:
    rendered = render_email(kind, context)

    assert isinstance(rendered, Rendered)
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.count("\n") > 20
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part and "{%" not in part
    tree = parse_html(rendered.html)
    body = tree.find("body")
    assert body.findall(".//style") == []
    assert "@media" in tree.find("head/style").text
    classed = body.xpath("descendant-or-self::*[@class]")
    assert classed
    assert [el.get("class") for el in classed if not el.get("style")] == []


def test_the_invitation_subject_names_the_coalition_round_and_time() -> None:
    rendered = render_email("invitation", INVITATION)

    assert rendered.subject == "Riverside Food Coalition: your Round 4 check-in (3 min)"


def test_the_invitation_has_a_button_and_the_raw_link_in_the_text_part() -> None:
    rendered = render_email("invitation", INVITATION)
    tree = parse_html(rendered.html)

    button = tree.find_class("button")[0]
    assert button.get("href") == INVITATION["link"]
    assert "background-color" in tree.find_class("button-cell")[0].get("style")
    # A long unbreakable URL would need word-break (not in Yahoo, partial elsewhere) to fit a
    # phone; the button is an ordinary link and the text part shows the whole URL.
    assert not tree.find_class("raw-link")
    assert f"\n{INVITATION['link']}\n" in rendered.text
    assert INVITATION["win"] in tree.find_class("win-text")[0].text_content()


def test_the_invitation_text_is_written_for_reading_not_stripped_html() -> None:
    text = render_email("invitation", INVITATION).text

    assert f"\n{INVITATION['link']}\n" in text
    words = " ".join(text.split())  # the text part is wrapped at 78 columns
    assert "about 3 minutes" in words
    assert "change your answers until Thursday 3 December 2026, 17:00 Europe/London" in words
    assert "personal to you: please don't forward" in words
    assert "  - Open a Saturday pantry at St Mark's hall (due 18 December 2026)\n" in text
    assert "  - Volunteer hours\n" in text
    assert "<" not in text


def test_an_invitation_without_commitments_metrics_or_lead_still_reads_well() -> None:
    context = invitation(commitments=[], metrics=[], lead_organisation=None)
    del context["footer_reason"]

    rendered = render_email("invitation", context)

    assert "What we'll ask" not in rendered.text
    assert "ask the convener for a link" in rendered.text
    assert "You get this because" not in rendered.html


def test_a_missing_context_key_fails_loudly() -> None:
    context = invitation()
    del context["link"]

    with pytest.raises(jinja2.UndefinedError, match="link"):
        render_email("invitation", context)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email kind 'newsletter'"):
        render_email("newsletter", INVITATION)


def test_the_subject_is_one_line_even_if_a_name_holds_newlines() -> None:
    rendered = render_email("invitation", invitation(coalition_name="Evil\r\nBcc: x@example.org"))

    assert rendered.subject == "Evil Bcc: x@example.org: your Round 4 check-in (3 min)"


def test_user_text_is_escaped_in_html_and_literal_in_text() -> None:
    context = digest()
    context["scoreboard"]["wins"][0]["person"] = 'Bob "<b>" & Co'

    rendered = render_email("digest", context)

    assert SCRIPT not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<b>" not in rendered.html
    assert SCRIPT in rendered.text
    assert 'Bob "<b>" & Co' in rendered.text


def test_partners_who_disagree_are_named_with_their_answers_escaped_in_html() -> None:
    context = digest(conflicts=[{
        "kind": "metric", "subject": "Meals <served>", "owner": "Riverside & Co", "unit": "meals",
        "answers": [
            {"person": 'Bob "<b>" Lee', "organisation": "Riverside & Co", "status": None,
             "value": 104.0, "submitted_at": "Friday 20 November 2026, 09:00 (UTC)",
             "kept": False},
            {"person": "Ann Ray", "organisation": "Riverside & Co", "status": None,
             "value": 98.0, "submitted_at": "Friday 20 November 2026, 09:05 (UTC)",
             "kept": True},
        ]}])

    rendered = render_email("digest", context)

    assert "Partners disagree" in rendered.text and "Partners disagree" in rendered.html
    assert 'Bob "<b>" Lee, Riverside & Co: 104 meals' in rendered.text
    assert "Ann Ray, Riverside & Co: 98 meals (shown)" in rendered.text
    assert "<b>" not in rendered.html and "<served>" not in rendered.html
    page = parse_html(rendered.html).text_content()
    assert 'Bob "<b>" Lee, Riverside & Co' in page and "Meals <served>" in page


def test_a_digest_without_conflicts_has_no_disagreement_section() -> None:
    stored_before_conflicts = digest()
    stored_before_conflicts["scoreboard"].pop("conflicts", None)
    for context in (digest(conflicts=[]), stored_before_conflicts):
        rendered = render_email("digest", context)
        assert "disagree" not in rendered.text and "disagree" not in rendered.html


def test_the_digest_subject_counts_who_answered() -> None:
    rendered = render_email("digest", DIGEST)

    assert rendered.subject == "Riverside Food Coalition digest, Round 4: 8 of 10 answered"


def test_the_digest_progress_bar_is_two_coloured_percentage_cells() -> None:
    html = render_email("digest", DIGEST).html
    bar = parse_html(html).find_class("bar")[0]

    fill, rest = bar.findall(".//td")
    assert (fill.get("width"), rest.get("width")) == ("70%", "30%")
    assert "width:70%" in fill.get("style").replace(" ", "")
    assert "width:30%" in rest.get("style").replace(" ", "")
    for cell in (fill, rest):
        assert re.search(r"background-color:\s*#[0-9a-f]{3,6}", cell.get("style"))
        assert re.fullmatch(r"#[0-9a-f]{6}", cell.get("bgcolor"))
    assert "<img" not in html and "<svg" not in html and "<script" not in html


def test_a_full_or_empty_bar_is_one_cell() -> None:
    context = digest(metrics=[_metric("full", progress=100), _metric("none", progress=0)])
    tree = parse_html(render_email("digest", context).html)

    full, empty = tree.find_class("bar")
    assert [td.get("class") for td in full.findall(".//td")] == ["bar-fill"]
    assert [td.get("class") for td in empty.findall(".//td")] == ["bar-rest"]


def test_the_digest_shows_each_metric_against_baseline_and_target() -> None:
    rendered = render_email("digest", DIGEST)
    tree = parse_html(rendered.html)
    html_text = " ".join(tree.find("body").text_content().split())

    assert "1,640 meals" in html_text
    assert "baseline 800 meals → target 2,000 meals" in html_text
    assert "↑ +240 since last round" in html_text
    assert "no reading this round" in html_text
    assert "baseline £3.20 → target £2.50" in html_text
    better = tree.find_class("change-better")[0]
    worse = tree.find_class("change-worse")[0]
    assert better.text_content() == "↑ +240"
    assert worse.text_content() == "↑ +0.5"  # a wait going up moves away from its target
    assert "Latest: 1,640 meals, ↑ +240 since last round" in rendered.text
    assert "[#######---] 70% of the way" in rendered.text
    assert "Latest: no reading this round" in rendered.text


def test_the_digest_lists_notable_commitments_by_organisation_and_counts_the_rest() -> None:
    rendered = render_email("digest", DIGEST)
    body = " ".join(parse_html(rendered.html).find("body").text_content().split())

    assert "5 on track" in body and "2 with no update" in body and "1 dropped" in body
    assert "Open a Saturday pantry" in body and "Share the volunteer rota" in body
    assert "Recruit five drivers" not in body
    assert "Eastgate Youth Club" not in body.split("Commitments")[1].split("Numbers")[0]
    assert "  [BLOCKED, OVERDUE] Open a Saturday pantry (due 18 Dec)\n" in rendered.text
    assert "  [SLIPPING] Cook 200 extra meals a week (due 18 Dec)\n" in rendered.text
    assert "      Note: Lost our second cook\n" in rendered.text


def test_the_digest_shows_silence_wins_blockers_pulse_and_help() -> None:
    rendered = render_email("digest", DIGEST)
    body = " ".join(parse_html(rendered.html).find("body").text_content().split())

    assert "Tom Reyes · Eastgate Youth Club" in body
    assert "Fed 312 people at the winter lunch" in body
    assert "Help wanted Need a van on Saturdays" in body
    assert "4.2 / 5 from 7 answers" in body
    assert "Hope Kitchen helped Northside Food Bank" in body
    assert "Open the web version" in body
    assert "  - [HELP WANTED] Need a van on Saturdays (Amira O'Neill, Northside Food Bank)\n" in (
        rendered.text
    )
    assert "  - Fridge broke again (Priya Shah, Hope Kitchen)\n" in rendered.text
    assert "4.2 / 5 from 7 answers." in rendered.text
    assert DIGEST["web_link"] in rendered.text


def test_a_quiet_round_says_so_instead_of_showing_empty_sections() -> None:
    context = digest(
        wins=[], blockers=[], help=[], metrics=[], pulse={"average": None, "count": 0},
        web_link=None,
    )
    context["scoreboard"]["response"].update(answered=10, rate=1.0, silent=[])

    rendered = render_email("digest", context)

    for sentence in ("Everyone has answered", "No wins logged", "No blockers reported",
                     "No answers this round", "Nobody reported help", "tracks no numbers"):
        assert sentence in rendered.text
        assert sentence in rendered.html
    assert "web version" not in rendered.text and "web version" not in rendered.html


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234.0, "1,234"), (1234567.891, "1,234,567.89"), (4.2, "4.2"), (0.0, "0"), (-3.5, "-3.5"),
     (2.675, "2.68"), (None, "–")],
)
def test_numbers_are_formatted_for_people(value: float | None, expected: str) -> None:
    assert num(value) == expected


def test_changes_money_and_text_bars_are_formatted_for_people() -> None:
    assert (signed(240.0), signed(-0.5), signed(0.0)) == ("+240", "-0.5", "0")
    assert (quantity(3.2, "£"), quantity(-1200, "$"), quantity(45, "%")) == (
        "£3.20", "-$1,200", "45%"
    )
    assert (text_bar(70), text_bar(0), text_bar(130), text_bar(None)) == (
        "[#######---] 70%", "[----------] 0%", "[##########] 100%", "[----------] 0%"
    )


# Building the message


def test_build_message_makes_text_then_html_alternatives_with_all_headers() -> None:
    message = build_message(
        render_email("invitation", INVITATION),
        sender="Riverside Food Coalition <cos@example.org>",
        to_name="Amira O'Neill",
        to_addr="amira@example.org",
        message_id="<cos-3-17-invitation@cos.example.org>",
        headers={"Auto-Submitted": "auto-generated", "X-COS-Round": "17"},
    )

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == "<cos-3-17-invitation@cos.example.org>"
    assert message["MIME-Version"] == "1.0"
    assert message["From"].addresses[0].addr_spec == "cos@example.org"
    assert message["To"].addresses[0].display_name == "Amira O'Neill"
    assert email.utils.parsedate_to_datetime(message["Date"]).utcoffset() == timedelta(0)
    assert message["Auto-Submitted"] == "auto-generated"
    raw = message.as_bytes(policy=email.policy.SMTP)
    assert b"\r\n" in raw and re.search(rb"[^\r]\n", raw) is None


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from("ab =\t.\u00e9\u00b7\r\n" + "x" * 12), max_size=600))
def test_quoted_printable_line_by_line_equals_the_whole_body_at_once(body: str) -> None:
    """The HTML part is encoded a line at a time (lines kept between emails): the same bytes
    as binascii over the whole body, and the body decodes back to what was given."""
    from emails.message import _encode_body

    cte, encoded = _encode_body(body)
    text = "\n".join(body.splitlines()) + "\n"
    if cte == "quoted-printable":
        whole = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
        assert encoded == (whole if whole.endswith("\n") else whole + "\n")
        assert binascii.a2b_qp(encoded).decode("utf-8") == text
    else:
        assert encoded == text


def test_a_long_list_unsubscribe_header_is_folded_on_the_wire() -> None:
    """A long header is kept as written until it goes out, then folded as email.policy.SMTP
    folds it; read back, it is the value given."""
    value = ("<https://cos.example.org/u/12345-" + "t" * 24 + ">, "
             "<mailto:cos@example.org?subject=unsubscribe%2012345-" + "t" * 24 + ">")
    message = build_message(render_email("invitation", INVITATION), sender="C <cos@example.org>",
                            to_name="Ann", to_addr="ann@example.org", message_id="<a@b>",
                            headers={"List-Unsubscribe": value})
    raw = to_bytes(message)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert " ".join(parsed["List-Unsubscribe"].split()) == value  # unfolded
    assert message["List-Unsubscribe"] == value
    assert b"List-Unsubscribe:" in raw and b"=?utf-8?" not in raw


@pytest.mark.parametrize("host", ["cos.example.org",
                                  "cadence.riverside-food-security-coalition.example.org"])
def test_list_unsubscribe_is_never_written_as_encoded_words(host: str) -> None:
    """RFC 2369 headers hold URIs in angle brackets, which mail providers read as they are: a
    URI longer than a line must go out whole on a line of its own, never as RFC 2047 encoded
    words (email.policy.SMTP encodes any word too long for a line, and Gmail's or Yahoo's
    one-click unsubscribe would then find no URI)."""
    token = "12345-nqNj_Gh3feA0AIPm0dLiIwZ-"
    value = (f"<https://{host}/u/{token}>, "
             f"<mailto:cos@{host}?subject=unsubscribe%20{token}>")
    message = build_message(render_email("invitation", INVITATION), sender="C <cos@example.org>",
                            to_name="Ann", to_addr="ann@example.org", message_id="<a@b>",
                            headers={"List-Unsubscribe": value, "List-Id": f"C <c.lists.{host}>"})
    raw = to_bytes(message)
    head = raw.split(b"\r\n\r\n")[0]
    assert b"=?" not in head
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    unfolded = head.replace(b"\r\n ", b" ").decode("ascii")
    assert f"\r\nList-Unsubscribe: {value}\r\n" in unfolded + "\r\n"
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"] == value


def test_a_name_with_quotes_and_commas_survives_the_round_trip() -> None:
    name = 'O\'Neill, Amira "Ami"'
    message = build_message(
        Rendered("Hi", "text", "<p>html</p>"), sender="cos@example.org", to_name=name,
        to_addr="amira@example.org", message_id="<1@x>",
    )

    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == name
    assert parsed["To"].addresses[0].addr_spec == "amira@example.org"


def test_a_name_with_a_newline_cannot_inject_a_header() -> None:
    message = build_message(
        Rendered("Hi\r\nBcc: victim@example.org", "text", "<p>html</p>"),
        sender="cos@example.org",
        to_name="Eve\r\nBcc: victim@example.org",
        to_addr="eve@example.org",
        message_id="<1@x>",
    )

    raw = message.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert re.search(rb"^Bcc:", raw, re.MULTILINE) is None
    assert parsed["Subject"] == "Hi Bcc: victim@example.org"
    assert parsed["To"].addresses[0].addr_spec == "eve@example.org"


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"X-Note": "a\r\nBcc: victim@example.org"}, "line breaks"),
        ({"Subject": "replaced"}, "set by build_message"),
        ({"Bad Name": "x"}, "not a valid header name"),
    ],
)
def test_bad_extra_headers_are_refused(headers: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_message(
            Rendered("Hi", "text", "<p>html</p>"), sender="cos@example.org", to_name="Eve",
            to_addr="eve@example.org", message_id="<1@x>", headers=headers,
        )


# SMTP delivery against a real server


def test_a_message_sent_over_smtp_arrives_with_both_parts(smtp_server: SMTPSink) -> None:
    backend = backend_from_url(smtp_server.url)

    backend.send(make_message())

    (received,) = smtp_server.wait_for(1)
    assert received.mail_from == "cos@example.org"
    assert received.rcpt_tos == ["amira@example.org"]
    assert received.message["Subject"] == render_email("invitation", INVITATION).subject
    assert [p.get_content_type() for p in received.message.iter_parts()] == [
        "text/plain", "text/html"
    ]
    text_part = received.message.get_body(("plain",))
    assert text_part is not None and INVITATION["link"] in text_part.get_content()


def test_a_dead_port_is_a_temporary_error_that_says_what_to_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = backend_from_url(f"smtp://127.0.0.1:{port}", timeout=2)

    with pytest.raises(DeliveryError) as caught:
        backend.send(make_message())

    assert caught.value.temporary is True
    assert str(caught.value) == (
        f"could not connect to SMTP server 127.0.0.1:{port} (Connection refused): "
        "check COS_MAIL_URL and that the server is running"
    )


def test_a_server_that_never_answers_is_a_temporary_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        backend = backend_from_url(f"smtp://127.0.0.1:{port}", timeout=0.3)

        with pytest.raises(DeliveryError, match="did not answer within 0.3 s") as caught:
            backend.send(make_message())

    assert caught.value.temporary is True


def test_a_recipient_rejected_with_550_is_a_permanent_error(smtp_server: SMTPSink) -> None:
    backend = backend_from_url(smtp_server.url)

    with pytest.raises(DeliveryError) as caught:
        backend.send(make_message(to_addr="reject-me@example.org"))

    assert caught.value.temporary is False
    assert caught.value.code == 550
    assert "refused recipient reject-me@example.org (550 5.1.1" in str(caught.value)
    assert smtp_server.messages == []


def test_a_recipient_deferred_with_451_is_a_temporary_error(smtp_server: SMTPSink) -> None:
    with pytest.raises(DeliveryError) as caught:
        backend_from_url(smtp_server.url).send(make_message(to_addr="defer@example.org"))

    assert caught.value.temporary is True
    assert caught.value.code == 451


@pytest.fixture
def trusted_cert(tls_certificate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test certificate trusted the way an operator would: SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate))


@pytest.mark.usefixtures("trusted_cert")
@pytest.mark.parametrize(("kind", "scheme"), [("starttls", "smtp+starttls"), ("tls", "smtps")])
def test_tls_urls_log_in_with_url_decoded_credentials_and_deliver(
    smtp_tls_servers: dict[str, SMTPSink], kind: str, scheme: str
) -> None:
    server = smtp_tls_servers[kind]
    backend = backend_from_url(f"{scheme}://cos%40example.org:p%40ss%3Aword@127.0.0.1:{server.port}")

    backend.send(make_message())

    (received,) = server.wait_for(1)
    assert received.login == "cos@example.org"
    assert received.rcpt_tos == ["amira@example.org"]


@pytest.mark.usefixtures("trusted_cert")
def test_a_wrong_password_is_a_permanent_error_naming_the_setting(
    smtp_tls_servers: dict[str, SMTPSink],
) -> None:
    port = smtp_tls_servers["starttls"].port
    backend = backend_from_url(f"smtp+starttls://cos%40example.org:wrong@127.0.0.1:{port}")

    with pytest.raises(DeliveryError, match="check the user and password in COS_MAIL_URL") as err:
        backend.send(make_message())

    assert err.value.temporary is False
    assert "wrong" not in str(err.value)


def test_a_check_greets_the_server_and_sends_nothing(smtp_server: SMTPSink) -> None:
    backend_from_url(smtp_server.url).check()
    assert smtp_server.messages == []


@pytest.mark.usefixtures("trusted_cert")
def test_a_check_logs_in_so_a_wrong_password_shows_before_anything_is_sent(
    smtp_tls_servers: dict[str, SMTPSink],
) -> None:
    port = smtp_tls_servers["starttls"].port
    backend_from_url(f"smtp+starttls://cos%40example.org:p%40ss%3Aword@127.0.0.1:{port}").check()
    with pytest.raises(DeliveryError, match="refused the login"):
        backend_from_url(f"smtp+starttls://cos%40example.org:wrong@127.0.0.1:{port}").check()


def test_a_check_of_a_server_that_is_not_running_says_so() -> None:
    port = free_port()
    with pytest.raises(DeliveryError, match=f"could not connect to SMTP server 127.0.0.1:{port}"):
        backend_from_url(f"smtp://127.0.0.1:{port}").check()


def test_a_check_of_an_outbox_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    backend_from_url(f"file://{tmp_path}/outbox").check()
    with pytest.raises(DeliveryError, match="cannot write to the file outbox"):
        backend_from_url(f"file://{blocker}/outbox").check()


def test_an_untrusted_certificate_is_a_permanent_error(
    smtp_tls_servers: dict[str, SMTPSink], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    backend = backend_from_url(f"smtps://u:p@127.0.0.1:{smtp_tls_servers['tls'].port}")

    with pytest.raises(DeliveryError, match="certificate .* could not be verified") as caught:
        backend.send(make_message())

    assert caught.value.temporary is False


# File outbox


def test_the_file_outbox_writes_a_parseable_eml_that_list_returns(tmp_path: Path) -> None:
    outbox = backend_from_url(f"file://{tmp_path}/outbox")
    assert isinstance(outbox, FileOutbox)

    outbox.send(make_message())

    (path,) = outbox.list()
    assert path.parent == tmp_path / "outbox"
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}-cos-3-17-invitation_cos\.example\.org\.eml", path.name)
    assert b"\r\n" in path.read_bytes()
    parsed = FileOutbox.read_message(path)
    assert parsed["To"].addresses[0].addr_spec == "amira@example.org"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [path.name]


def test_outbox_file_names_are_safe_whatever_the_message_id(tmp_path: Path) -> None:
    outbox = FileOutbox(tmp_path)

    outbox.send(make_message(message_id='<../../etc/passwd?*:|"\\ é@host name>'))
    outbox.send(make_message(message_id="<cos-2@x>"))

    first, second = outbox.list()
    assert second.name.endswith("-cos-2_x.eml")
    for path in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9._-]+", path.name)
        assert path.parent == tmp_path
    assert outbox.find(first.name) == first
    assert outbox.find("../" + first.name) is None
    assert outbox.find("missing.eml") is None


def test_an_empty_or_missing_outbox_lists_nothing(tmp_path: Path) -> None:
    assert FileOutbox(tmp_path / "not-yet").list() == []


# Choosing a backend


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("smtp://127.0.0.1:2525", "SMTP 127.0.0.1:2525"),
        ("smtp://mail.example.org", "SMTP mail.example.org:25"),
        ("smtp+starttls://me%40example.org:p%3Ass@mail.example.org",
         "SMTP+STARTTLS mail.example.org:587 as me@example.org"),
        ("smtp+starttls://relay.example.org:2587", "SMTP+STARTTLS relay.example.org:2587"),
        ("smtps://me:secret@mail.example.org", "SMTPS mail.example.org:465 as me"),
        ("smtp://[::1]:25", "SMTP [::1]:25"),
        ("file:///var/spool/cos%20outbox", "file outbox /var/spool/cos outbox"),
    ],
)
def test_backend_from_url_understands_each_scheme(url: str, described: str) -> None:
    backend = backend_from_url(url, timeout=3)

    assert isinstance(backend, Backend)
    assert backend.describe() == described
    assert "secret" not in backend.describe()


def test_credentials_in_the_url_are_url_decoded() -> None:
    backend = backend_from_url("smtp+starttls://me%40example.org:p%3As%2Fs@mail.example.org")

    assert isinstance(backend, SMTPBackend)
    assert (backend.username, backend.password, backend.timeout) == ("me@example.org", "p:s/s", 10)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://mail.example.org", "is not supported: expected one of smtp://"),
        ("mail.example.org:25", "is not supported"),
        ("", "is not supported"),
        ("smtp://", "has no host"),
        ("smtp://mail.example.org:99999", "bad port"),
        ("smtp://me:secret@mail.example.org", "without TLS"),
        ("smtp+starttls://me@mail.example.org", "both a user and a password"),
        ("smtp://mail.example.org/inbox?x=1", "path or query"),
        ("file://relative/outbox", "absolute directory"),
        ("smtps://me:secret@[::1", "cannot be read"),
    ],
)
def test_backend_from_url_refuses_bad_urls_clearly(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        backend_from_url(url)

    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(("name", "subject", "text"), [
    ("Amira O'Neill", "Hi", "plain ascii\n"),
    ("Zoë Ødegård, Jr.", "Ünïcode " + "long subject " * 8, "café " * 40 + "\n= end\n"),
])
def test_the_wire_bytes_parse_back_like_the_stdlib_generator(
        name: str, subject: str, text: str) -> None:
    from emails.message import to_bytes

    message = build_message(
        Rendered(subject, text, "<p>" + "x" * 300 + " é</p>"), sender="Coalition <cos@example.org>",
        to_name=name, to_addr="amira@example.org", message_id="<1@x>",
        headers={"Auto-Submitted": "auto-generated"})
    message["X-Added-Later"] = "yes"  # a header added after the build still goes out
    ours = email.message_from_bytes(to_bytes(message), policy=email.policy.strict)
    theirs = email.message_from_bytes(message.as_bytes(policy=email.policy.SMTP),
                                      policy=email.policy.strict)
    for header in ("From", "To", "Subject", "Message-ID", "Auto-Submitted", "X-Added-Later"):
        assert str(ours[header]) == str(theirs[header])
    assert ours["To"].addresses[0].display_name == name
    assert [p.get_content() for p in ours.iter_parts()] == [
        p.get_content() for p in theirs.iter_parts()]
    assert all(len(line) <= 998 for line in to_bytes(message).split(b"\r\n"))


def test_the_web_digest_keeps_every_silent_name_grouped_and_its_styles_in_the_head() -> None:
    """The web version is a page, not an email: no CSS inliner pass (a 100,000-person digest
    took 1.1 GB and seconds through it), its styles stay in the <style> block, and the long
    silent list is whole, one line per organisation with its count."""
    from emails.render import render_web

    silent = [{"name": f"Person {o}-{n}", "organisation": f"Org {o:03}"}
              for o in range(300) for n in range(o % 4 + 1)]
    rendered = render_web("digest", digest(response={
        "invited": len(silent) + 8, "answered": 8, "rate": 0.01, "silent": silent}))
    tree = parse_html(rendered.html)
    # Nothing inlined: the layout's rules are still in the head, the elements carry classes
    # only (the progress bar's cell widths are the template's own style attributes).
    css = "\n".join(style.text or "" for style in tree.iter("style"))
    assert re.search(r"^\.card \{ padding: 28px;", css, re.M)
    styled = {el.get("class") for el in tree.iter() if isinstance(el.tag, str)
              and el.get("style") is not None}
    assert styled <= {"bar-fill", "bar-rest"}, styled
    assert tree.find_class("card")[0].get("style") is None
    # Every name, under its organisation, each organisation once with its count.
    lines = {line.find("strong").text_content(): line.text_content()
             for line in tree.find_class("silent-org")}
    assert len(lines) == 300
    for person in silent:
        assert person["name"] in lines[person["organisation"]]
    assert "(4)" in lines["Org 003"] and "Person 3-3" in lines["Org 003"]
    assert "Person 3-3" in rendered.text  # the text part lists them too
