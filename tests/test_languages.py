"""Languages: one gettext catalog for the emails and the partner pages, chosen per coalition
and per person; English stays the template text itself."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlmodel import select

from emails.i18n import LANGUAGES, TRANSLATIONS_DIR, format_moment
from pipeline.coalitions import LoadError, load_coalition
from pipeline.db import session_scope
from pipeline.models import Coalition, Delivery, Person, Round
from pipeline.sending import compose
from tests.helpers import DATA, link_for, open_round

ROOT = Path(__file__).parent.parent


def spanish_file(tmp_path: Path, *, person_language: str = "en") -> Path:
    """The test coalition in Spanish, with Kim choosing a language of their own."""
    text = (DATA / "harbour.toml").read_text()
    text = text.replace('stage = "launch"\n',
                        'stage = "launch"\nlanguage = "es"\nlocale = "es"\n', 1)
    text = text.replace('name = "Kim O\'Neil"\n',
                        f'name = "Kim O\'Neil"\nlanguage = "{person_language}"\n', 1)
    path = tmp_path / "harbour-es.toml"
    path.write_text(text)
    return path


@pytest.fixture
def spanish_round(settings, tmp_path):
    with session_scope(settings.database_url) as session:
        load_coalition(session, spanish_file(tmp_path))
    round_id, _ = open_round(settings)
    return round_id


def invitation_to(settings, round_id: int, address: str) -> email.message.EmailMessage:
    """Compose the invitation a person gets, exactly as the sender does, and parse it back."""
    with session_scope(settings.database_url) as session:
        delivery = session.exec(select(Delivery).join(Person).where(
            Delivery.round_id == round_id, Person.email == address,
            Delivery.kind == "invitation")).one()
        raw = compose(session, settings, delivery).as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def closes_at(settings, round_id: int, language: str) -> str:
    with session_scope(settings.database_url) as session:
        round_ = session.get(Round, round_id)
        coalition = session.get(Coalition, round_.coalition_id)
        return format_moment(round_.closes_at, coalition.timezone, language)


def test_a_spanish_coalition_sends_its_invitation_in_spanish(settings, spanish_round):
    message = invitation_to(settings, spanish_round, "raj@schools.example")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    when = closes_at(settings, spanish_round, "es")
    assert message["Subject"] == ("Harbour Clean Air Alliance: tu seguimiento de la Ronda 1 "
                                  "(3 min)")
    assert text.startswith("Hola, Raj Patel:\n")
    assert "Empieza tu seguimiento aquí:" in text
    flowing = " ".join(text.split())  # the text part is wrapped at 78 columns
    assert f"Puedes volver y cambiar tus respuestas hasta el {when}." in flowing
    assert "Recibes esto porque eres socio de Harbour Clean Air Alliance." in text
    assert '<html lang="es"' in html
    assert "Empieza tu seguimiento</a>" in html
    assert f"<strong>{when}</strong>" in html
    # The date is Babel's Spanish long form: a Spanish weekday and month, no English left.
    with session_scope(settings.database_url) as session:
        round_ = session.get(Round, spanish_round)
        local = format_date(round_.closes_at, format="full", locale="es")
    assert when.startswith(local.split(",")[0])  # the weekday, e.g. "jueves"
    for english in ("Hi ", "Start your check-in", "check-in time", "Thank you",
                    "You get this because", "Monday", "Tuesday", "Wednesday", "Thursday",
                    "Friday", "Saturday", "Sunday"):
        assert english not in text and english not in html, english


def test_a_person_who_chose_english_gets_english_in_a_spanish_coalition(settings, spanish_round):
    message = invitation_to(settings, spanish_round, "kim@cyclists.example")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Subject"] == ("Harbour Clean Air Alliance: your Round 1 check-in "
                                  "(3 min)")
    assert text.startswith("Hi Kim O'Neil,\n")
    assert f"until {closes_at(settings, spanish_round, 'en')}." in " ".join(text.split())
    assert '<html lang="en"' in message.get_body(preferencelist=("html",)).get_content()


def test_the_form_page_follows_the_person_then_the_coalition(settings, session, app,
                                                             spanish_round):
    client = app.test_client()
    page = client.get(link_for(settings, session, "raj@schools.example", spanish_round))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="es"' in html
    assert "Hola, Raj Patel" in html and "Guardar mi seguimiento" in html
    assert "Vuestros compromisos" in html and "Nuestro objetivo" in html
    assert closes_at(settings, spanish_round, "es") in html
    assert "Save my check-in" not in html and "Your commitments" not in html
    english = client.get(link_for(settings, session, "kim@cyclists.example", spanish_round))
    assert "Save my check-in" in english.get_data(as_text=True)
    assert '<html lang="en"' in english.get_data(as_text=True)


def test_a_spanish_partner_sees_errors_and_the_thanks_page_in_spanish(settings, session, app,
                                                                      spanish_round):
    import lxml.html

    client = app.test_client()
    link = link_for(settings, session, "raj@schools.example", spanish_round)
    token = lxml.html.fromstring(client.get(link).get_data(as_text=True)).forms[0].fields[
        "csrf_token"]
    bad = client.post(link, data={"csrf_token": token, "help_wanted": "y"})
    assert bad.status_code == 400
    assert "Hay respuestas que corregir" in bad.get_data(as_text=True)
    assert "Indica en el cuadro de arriba" in bad.get_data(as_text=True)
    good = client.post(link, data={"csrf_token": token, "win": "Un buen mes"})
    assert good.status_code == 303
    thanks = client.get(link + "/thanks").get_data(as_text=True)
    assert "Gracias, Raj Patel" in thanks and "Lo que hemos registrado" in thanks




def test_an_unknown_language_is_refused_with_the_shipped_ones(settings, tmp_path):
    path = spanish_file(tmp_path, person_language="klingon")
    with session_scope(settings.database_url) as session, pytest.raises(LoadError) as err:
        load_coalition(session, path)
    assert "language 'klingon' is not shipped: expected one of en, es" in str(err.value)


def extracted_msgids(tmp_path: Path) -> set[str | tuple[str, ...]]:
    """Run `pybabel extract` with the project's babel.cfg, as the README says to."""
    out = tmp_path / "fresh.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "N_", "-o", str(out), "--no-location",
                    str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    with out.open("rb") as f:
        return {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(f) if m.id}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_string_in_the_templates_is_translated_in_the_shipped_catalog(tmp_path,
                                                                            language):
    wanted = extracted_msgids(tmp_path)
    assert len(wanted) > 200
    po_path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as f:
        po = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in read_po(f) if m.id}
    with po_path.with_suffix(".mo").open("rb") as f:
        mo = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in read_mo(f) if m.id}
    missing = sorted(map(str, wanted - po.keys()))
    assert missing == [], "run pybabel extract/update (README, Languages) and translate these"
    untranslated = sorted(str(k) for k in wanted if not (
        po[k].string if isinstance(po[k].string, str) else all(po[k].string)))
    assert untranslated == []
    fuzzy = sorted(str(k) for k in wanted if po[k].fuzzy)
    assert fuzzy == []
    stale = sorted(str(k) for k in wanted
                   if k not in mo or same(mo[k].string) != same(po[k].string))
    assert stale == [], "the .mo is older than the .po: run pybabel compile -d emails/translations"


def same(string: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    return string if isinstance(string, str) else tuple(string)


def test_the_digest_is_in_the_coalitions_language(settings, spanish_round):
    from pipeline.digest import render_digest

    with session_scope(settings.database_url) as session:
        rendered = render_digest(session, settings, spanish_round)
    assert rendered.subject.startswith("Harbour Clean Air Alliance, Ronda 1: resumen, ")
    assert "Quién respondió" in rendered.text and "Recibes esto porque coordinas" in rendered.text
    assert '<html lang="es"' in rendered.html and "Who answered" not in rendered.html


def test_a_csv_language_column_sets_a_persons_language(settings, spanish_round, tmp_path):
    from tests.helpers import cos

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email,name,organisation,role,language\n"
                        "mo@parents.example,Mo Khan,Harbour Schools,partner,en\n"
                        "raj@schools.example,Raj Patel,Harbour Schools,partner,ES\n")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    with session_scope(settings.database_url) as session:
        chosen = {p.email: p.language for p in session.exec(select(Person))}
    assert chosen["mo@parents.example"] == "en" and chosen["raj@schools.example"] == "es"
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,organisation,language\nzo@x.example,Zo,Harbour Schools,xx\n")
    refused = cos(settings, "people", "import", "harbour-air", str(bad))
    assert refused.exit_code != 0 and "language 'xx' is not shipped" in refused.output


def test_a_link_that_does_not_work_follows_the_browsers_language(app):
    client = app.test_client()
    spanish = client.get("/c/" + "x" * 43, headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert spanish.status_code == 404
    assert "Este enlace no funciona" in spanish.get_data(as_text=True)
    english = client.get("/c/" + "x" * 43, headers={"Accept-Language": "de, en;q=0.5"})
    assert "This link does not work" in english.get_data(as_text=True)


def test_the_cos_model_in_the_digest_speaks_the_coalitions_language(settings, spanish_round):
    from pipeline.digest import render_digest

    with session_scope(settings.database_url) as session:
        rendered = render_digest(session, settings, spanish_round)
    flowing = " ".join(rendered.text.split())
    assert "Etapa: lanzamiento. Foco actual:" in flowing
    assert "Preparación" in rendered.text and "Preparación" in rendered.html
    for english in ("Stage:", "Ready ", "not enough answers", "strong", "concern", "[PASS]",
                    "[FAIL]", "Why:"):
        assert english not in rendered.text, english


def test_moves_and_slips_are_translated_at_the_edge_with_numbers_in_the_locale():
    from emails.model_words import translated_model
    from pipeline.core.model import move_dict, slipped
    from pipeline.core.moves import Situation, next_moves
    from pipeline.core.vocab import Stage

    moves = next_moves(Situation(stage=Stage.GROWTH, months_to_funding_end=2.5,
                                 silent_streaks={"A": 3, "B": 4, "C": 3, "D": 5, "E": 3,
                                                 "F": 3, "G": 3, "H": 3}))
    snap = {"stage": "growth", "phases": {}, "moves": [move_dict(i, m)
                                                       for i, m in enumerate(moves, 1)],
            "metrics": [], "slipped": slipped(
                {"metrics": [{"key": "m", "band": "green"}]},
                {"metrics": [{"key": "m", "name": "Meals", "band": "red", "freshness": 2,
                              "trend": None, "trend_rounds": 0}]})}
    english = translated_model(snap, "en")
    spanish = translated_model(snap, "es", "es")
    assert english is not None and spanish is not None
    assert english["moves"] == [{**m, "phase_label": m["phase"].capitalize()}
                                for m in snap["moves"]]  # English: the core's own words
    silent = next(m for m in spanish["moves"] if m["id"] == "silent-partner")
    assert silent["move"] == ("Llama por teléfono a D, B, A, C, E, F y 2 más; no escribas un "
                              "correo.")
    assert silent["script"].startswith("No sabemos nada de ti.")
    funding = next(m for m in spanish["moves"] if m["id"] == "sustainability-plan")
    assert funding["evidence"] == ("la financiación principal acaba en 2,5 meses; no hay plan de "
                                   "sostenibilidad registrado")
    assert spanish["stage_label"] == "crecimiento"
    assert spanish["slipped"][0]["what"] == "Meals pasó de verde a rojo"
    assert spanish["slipped"][0]["why"] == "sin informar desde hace 2 rondas"
    assert snap["moves"][0]["move"] == english["moves"][0]["move"]  # the input is not changed


def test_an_exit_tests_detail_is_in_spanish_in_a_spanish_digest():
    # The "why" under a slipped phase: each failing exit test's name and numbers, translated at
    # the edge with the reader's number locale (the core keeps its English).
    import json

    from emails.model_words import translated_model
    from pipeline.core.model import phase_dict, slipped
    from pipeline.core.phases import Phase, assess
    from pipeline.core.vocab import Stage
    from tests.core.situations import TODAY, inputs

    now = phase_dict(assess(inputs(), Stage.LAUNCH, TODAY).phases[Phase.TRUST])
    was = {**now, "band": "strong", "exits": [{**e, "passed": True} for e in now["exits"]]}
    snap = json.loads(json.dumps({"stage": "launch", "phases": {"trust": now}, "moves": [],
                                  "metrics": [], "slipped": slipped({"phases": {"trust": was}},
                                                                    {"phases": {"trust": now}})}))
    english = snap["slipped"][0]["why"]
    assert english.startswith("partners come through: T2 mean no answers, needs >= 4.0; ")
    spanish = translated_model(snap, "es", "es")
    assert spanish is not None
    why = spanish["slipped"][0]["why"]
    assert why.startswith("los socios cumplen: media de T2: ninguna respuesta, m\u00ednimo 4,0; ")
    assert "reciprocidad: ning\u00fan v\u00ednculo declarado, m\u00ednimo 50 %" in why
    assert "socios tienen un v\u00ednculo directo; a\u00fan sin ninguno: o2, o3, o4, o5" in why
    assert "needs" not in why and "partners" not in why


def test_the_readiness_verdicts_reasons_are_translated_at_the_edge():
    from emails.model_words import translated_model
    from pipeline.core.phases import ReadinessItem, readiness

    result = readiness({item: 0 if n == 0 else 2 for n, item in enumerate(ReadinessItem)})
    view = {"readiness": {"reasons": list(result.reasons),
                          "reason_words": [r.as_data() for r in result.reason_words]}}
    first = ReadinessItem(next(iter(ReadinessItem))).value
    assert view["readiness"]["reasons"] == ["total 14 of 24, needs >= 17",
                                            f"not there at all: {first}"]
    spanish = translated_model(view, "es")
    assert spanish is not None
    assert spanish["readiness"]["reasons"] == ["total 14 de 24, m\u00ednimo 17",
                                               f"ausentes por completo: {first}"]
