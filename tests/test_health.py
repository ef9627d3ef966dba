"""/healthz says the process is up; /readyz says whether the database and Redis answer."""

from __future__ import annotations

from cos.local_redis import free_port
from forms import create_app


def test_healthz_answers_without_touching_anything(db_settings):
    app = create_app(db_settings.with_(database_url="postgresql://x@127.0.0.1:1/none"))
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_database_and_redis_answer(settings):
    reply = create_app(settings).test_client().get("/readyz")
    assert reply.status_code == 200
    assert reply.get_json() == {"status": "ready", "database": "ok", "redis": "ok"}


def test_readyz_names_what_does_not_answer_without_passwords(settings):
    broken = settings.with_(database_url=f"postgresql://cos:hunter2@127.0.0.1:{free_port()}/x",
                            redis_url=f"redis://127.0.0.1:{free_port()}/0")
    reply = create_app(broken).test_client().get("/readyz")
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["status"] == "not ready" and body["redis"] == "not answering"
    assert body["database"].startswith("OperationalError")
    assert "hunter2" not in reply.get_data(as_text=True)


def test_metrics_are_hidden_without_a_token_and_refused_with_a_wrong_one(settings, monkeypatch):
    assert create_app(settings).test_client().get("/metrics").status_code == 404
    monkeypatch.setenv("COS_METRICS_TOKEN", "s3cret-scrape")
    client = create_app(settings).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_metrics_count_queue_depths_emails_and_answers(settings, session, monkeypatch):
    from pipeline import queues
    from tests.helpers import load, open_round

    load(settings)
    round_id, deliveries = open_round(settings)
    queues.enqueue_sends(settings, deliveries)
    monkeypatch.setenv("COS_METRICS_TOKEN", "s3cret-scrape")
    reply = create_app(settings).test_client().get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert reply.status_code == 200 and reply.content_type.startswith("text/plain")
    text = reply.get_data(as_text=True)
    assert 'cos_emails{kind="invitation",status="queued"} 4.0' in text
    # one job sends the four (SEND_BATCH rows per job)
    assert 'cos_queue_jobs{queue="cos-mail",state="queued"} 1.0' in text
    assert "cos_answers 0.0" in text
    assert 'cos_up{service="database"} 1.0' in text and 'cos_up{service="redis"} 1.0' in text
