"""Signed webhooks: answers and closed rounds reach a real HTTP receiver, signed as Standard
Webhooks says (checked with the scheme's own reference library), retried, and logged."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline import webhooks
from pipeline.db import session_scope
from pipeline.models import WebhookDelivery, WebhookEndpoint, utcnow
from pipeline.rounds import get_coalition
from tests.helpers import answer, cos, link_for, load, open_round, work


@dataclass
class Receiver:
    """An HTTP server on loopback that records each POST and answers with scripted codes."""

    url: str
    received: list[tuple[dict[str, str], str]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)  # answered in turn; 200 when used up

    def events(self, secret: str) -> list[dict]:  # type: ignore[type-arg]
        """Every message received, verified with the secret (raises on a bad signature)."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            box.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(box.codes.pop(0) if box.codes else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def add_webhook(settings, url: str, *events: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    args = ["webhooks", "add", "harbour-air", url, "--json"]
    for e in events:
        args += ["--event", e]
    result = cos(settings, *args)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    return row["id"], row["secret"]


def test_answers_and_the_close_reach_the_receiver_signed(settings, session, receiver,
                                                         live_server):
    load(settings)
    _, secret = add_webhook(settings, receiver.url)
    round_id, _ = open_round(settings)
    link = live_server.url + link_for(settings, session, "raj@schools.example", round_id)
    assert answer(link, {"win": "Sensors live at three schools", "pulse": "4"}).ok
    assert answer(link, {"win": "Sensors live at four schools", "pulse": "4"}).ok
    work(settings)

    first, second = receiver.events(secret)
    assert first["type"] == "answer.created" and second["type"] == "answer.updated"
    assert first["data"]["person"] == {"name": "Raj Patel", "email": "raj@schools.example"}
    assert first["data"]["organisation"] == "Harbour Schools"
    assert (first["data"]["round"], first["data"]["coalition"]) == (1, "harbour-air")
    assert first["data"]["answers"]["win"] == "Sensors live at three schools"
    assert second["data"]["answers"]["win"] == "Sensors live at four schools"
    assert second["data"]["revision"] == 2
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(set(ids)) == 2

    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    work(settings)
    closed = receiver.events(secret)[2]
    assert closed["type"] == "round.closed"
    assert closed["data"]["answered"] == 1 and closed["data"]["invited"] >= 3

    # Closing again is allowed, and tells nobody a second time.
    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    work(settings)
    assert len(receiver.received) == 3
    log = json.loads(cos(settings, "webhooks", "log", "harbour-air", "--json").stdout)
    assert [r["status"] for r in log] == ["delivered"] * 3


def test_a_forged_or_stale_message_fails_verification(settings, receiver, live_server,
                                                      session):
    load(settings)
    _, secret = add_webhook(settings, receiver.url)
    round_id, _ = open_round(settings)
    link = live_server.url + link_for(settings, session, "raj@schools.example", round_id)
    assert answer(link, {"pulse": "3"}).ok
    work(settings)
    headers, body = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace('"pulse":3', '"pulse":5'), headers)
    other = webhooks.new_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_a_failing_receiver_is_retried_with_the_same_id_then_given_up(settings, receiver):
    load(settings)
    webhook_id, secret = add_webhook(settings, receiver.url)
    receiver.codes = [500, 503]
    with session_scope(settings.database_url) as s:
        coalition = get_coalition(s, "harbour-air")
        (delivery_id,) = webhooks.record_event(s, coalition.id or 0, "round.closed",
                                               {"round": 9})
    with session_scope(settings.database_url) as s:
        first = webhooks.attempt(s, delivery_id)
    assert (first.status, first.status_code, first.retry_in) == (
        "pending", 500, webhooks.RETRY_DELAYS[0])
    with session_scope(settings.database_url) as s:
        second = webhooks.attempt(s, delivery_id)
    assert (second.status, second.retry_in) == ("pending", webhooks.RETRY_DELAYS[1])
    with session_scope(settings.database_url) as s:
        third = webhooks.attempt(s, delivery_id)
    assert third.status == "delivered"
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1
    assert len(receiver.events(secret)) == 3  # every attempt signed afresh, and valid

    # A receiver that never answers well: after the last retry the message is failed, kept,
    # and an admin can send it again.
    receiver.codes = [500] * (len(webhooks.RETRY_DELAYS) + 1)
    with session_scope(settings.database_url) as s:
        (stuck,) = webhooks.record_event(s, coalition.id or 0, "round.closed", {"round": 10})
    for _ in range(len(webhooks.RETRY_DELAYS) + 1):
        with session_scope(settings.database_url) as s:
            result = webhooks.attempt(s, stuck)
    assert result.status == "failed" and result.retry_in is None
    result = cos(settings, "webhooks", "log", "harbour-air")
    assert "failed" in result.stdout and "HTTP 500" in result.stdout
    assert cos(settings, "webhooks", "redeliver", str(stuck)).exit_code == 0
    work(settings)
    with session_scope(settings.database_url) as s:
        row = s.get(WebhookDelivery, stuck)
        assert row is not None and row.status == "delivered"
    assert webhook_id


def test_a_receiver_saying_gone_switches_the_webhook_off(settings, receiver):
    load(settings)
    webhook_id, _ = add_webhook(settings, receiver.url)
    receiver.codes = [410]
    with session_scope(settings.database_url) as s:
        coalition_id = get_coalition(s, "harbour-air").id or 0
        (delivery_id,) = webhooks.record_event(s, coalition_id, "round.closed", {})
    with session_scope(settings.database_url) as s:
        assert webhooks.attempt(s, delivery_id).status == "failed"
    with session_scope(settings.database_url) as s:
        endpoint = s.get(WebhookEndpoint, webhook_id)
        assert endpoint is not None and not endpoint.active
        assert webhooks.record_event(s, coalition_id, "round.closed", {}) == []
    listing = cos(settings, "webhooks", "list", "harbour-air").stdout
    assert "410 Gone" in listing


def test_only_the_chosen_events_are_sent(settings, receiver, live_server, session):
    load(settings)
    _, secret = add_webhook(settings, receiver.url, "round.closed")
    round_id, _ = open_round(settings)
    link = live_server.url + link_for(settings, session, "raj@schools.example", round_id)
    assert answer(link, {"pulse": "3"}).ok
    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    work(settings)
    assert [e["type"] for e in receiver.events(secret)] == ["round.closed"]


def test_with_redis_down_the_message_waits_for_the_reconcile_sweep(settings, receiver,
                                                                   live_server, session):
    load(settings)
    _, secret = add_webhook(settings, receiver.url)
    round_id, _ = open_round(settings)
    link = live_server.url + link_for(settings, session, "kim@cyclists.example", round_id)
    dead = settings.with_(redis_url="redis://127.0.0.1:1/0")
    from cos.processes import web_server
    from forms import create_app
    from tests.conftest_smtp import free_port

    port = free_port()
    with web_server(create_app(dead), "127.0.0.1", port):
        path = link.split("/c/", 1)[1]
        assert answer(f"http://127.0.0.1:{port}/c/{path}", {"pulse": "2"}).ok
    with session_scope(settings.database_url) as s:
        row = s.exec(select(WebhookDelivery)).one()
        assert row.status == "pending"
        # The sweep leaves a just-written message to its own job; this one is older.
        row.next_attempt_at = utcnow() - timedelta(minutes=5)
        s.add(row)
    result = cos(settings, "reconcile")
    assert result.exit_code == 0 and "queued 1 webhook message" in result.stdout
    work(settings)
    assert [e["type"] for e in receiver.events(secret)] == ["answer.created"]


@pytest.mark.parametrize("args, said", [
    (["harbour-air", "ftp://example.org/x"], "is not an http(s) URL"),
    (["no-such-coalition", "https://example.org/x"], "no-such-coalition"),
])
def test_webhook_commands_refuse_what_they_cannot_do(db_settings, args, said):
    load(db_settings)
    result = cos(db_settings, "webhooks", "add", *args)
    assert result.exit_code == 1 and said in result.output
    result = cos(db_settings, "webhooks", "redeliver", "999")
    assert result.exit_code == 1 and "no webhook message 999" in result.output
