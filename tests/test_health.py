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
