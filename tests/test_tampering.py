"""A partner's link writes only that partner's own answers: another's fields are ignored."""

from __future__ import annotations

import lxml.html
from sqlmodel import select

from pipeline.models import Commitment, Reading, Response
from pipeline.workers import run_burst
from tests.helpers import commitment_field, link_for, load, metric_field, open_round


def test_fields_naming_another_organisations_commitment_or_metric_are_ignored(
        settings, session, app):
    load(settings)
    round_id, _ = open_round(settings)
    kim = link_for(settings, session, "kim@cyclists.example", round_id)  # Harbour Cyclists
    client = app.test_client()
    page = client.get(kim)
    token = lxml.html.fromstring(page.get_data(as_text=True)).forms[0].fields["csrf_token"]
    sent = client.post(kim, data={
        "csrf_token": token,
        commitment_field(session, "petition"): "slipping",          # Kim's own
        commitment_field(session, "sensors"): "dropped",            # Harbour Schools'
        commitment_field(session, "sensors", "note"): "They gave up",
        metric_field(session, "no2"): "999",                         # Harbour Schools' metric
        "pulse": "3",
    })
    assert sent.status_code == 303
    run_burst(settings)
    session.expire_all()
    stored = session.exec(select(Response)).one().answers
    sensors = session.exec(select(Commitment).where(Commitment.source_key == "file:sensors")).one()
    assert str(sensors.id) not in (stored.get("commitments") or {})
    assert sensors.status != "dropped"
    assert session.exec(select(Reading)).all() == []
    petition = session.exec(select(Commitment).where(
        Commitment.source_key == "file:petition")).one()
    assert petition.status == "slipping"
