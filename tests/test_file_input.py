"""Files from admins: odd encodings, NUL bytes, formulas and very long files.

Each is read whole or refused whole, with the line of the problem; nothing is half-imported.
(UTF-8 with a byte order mark, Latin-1 refusals, semicolons and line-numbered row problems are
in tests/test_coalitions.py; control characters in names in tests/test_faults.py.)
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from pipeline.core.text import UnreadableText, decode_file_text, neutralise_formula
from pipeline.models import Coalition, Person
from tests.helpers import DATA, cos, load

HARBOUR = (DATA / "harbour.toml").read_text(encoding="utf-8")
HEADER = "email,name,organisation,role\n"


def emails(session) -> set[str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return {p.email for p in session.exec(select(Person))}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_coalition_file_saved_as_utf16_with_a_byte_order_mark_loads(
        settings, session, tmp_path, encoding):
    path = tmp_path / "harbour.toml"
    data = HARBOUR.encode(encoding)
    path.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
    result = cos(settings, "load", str(path))
    assert result.exit_code == 0, result.output
    assert session.exec(select(Coalition.slug)).all() == ["harbour-air"]


def test_a_latin1_coalition_file_names_the_line_column_and_character(settings, session, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(HARBOUR.encode("latin-1"))
    line = next(n for n, text in enumerate(HARBOUR.splitlines(), 1) if not text.isascii())
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    assert f"- line {line}, column " in result.output
    assert "not UTF-8 text (byte 0x" in result.output and "Latin-1" in result.output
    assert session.exec(select(Coalition)).all() == []


def test_a_nul_byte_in_a_coalition_file_is_refused_on_its_line(settings, session, tmp_path):
    path = tmp_path / "nul.toml"
    lines = HARBOUR.splitlines(keepends=True)
    lines[5] = lines[5][:2] + "\x00" + lines[5][2:]
    path.write_text("".join(lines), encoding="utf-8")
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    assert "- line 6, column 3: a NUL byte" in result.output
    assert session.exec(select(Coalition)).all() == []


def test_a_people_csv_from_excel_unicode_text_imports(settings, session, tmp_path):
    """Excel's "Unicode Text": UTF-16 little-endian with a byte order mark, tab-separated."""
    load(settings)
    path = tmp_path / "people.txt"
    path.write_bytes("email\tname\torganisation\trole\r\n"
                     "lucia@parents.example\tLucía Fernández\tHarbour Parents\tpartner\r\n"
                     .encode("utf-16"))
    result = cos(settings, "people", "import", "harbour-air", str(path))
    assert result.exit_code == 0, result.output
    lucia = session.exec(select(Person).where(Person.email == "lucia@parents.example")).one()
    assert lucia.name == "Lucía Fernández"


def test_a_utf16_csv_without_a_byte_order_mark_is_refused_clearly(settings, session, tmp_path):
    load(settings)
    before = emails(session)
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "mo@parents.example,Mo,Harbour Parents,partner\n")
                     .encode("utf-16-le"))
    result = cos(settings, "people", "import", "harbour-air", str(path))
    assert result.exit_code == 1
    assert "line 1, column 1: the CSV looks saved as UTF-16 without a byte order mark" in (
        result.output)
    assert emails(session) == before


def test_a_latin1_csv_names_the_line_of_the_first_bad_byte(settings, session, tmp_path):
    load(settings)
    before = emails(session)
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "mo@parents.example,Mo,Harbour Parents,partner\n"
                      "lucia@parents.example,Lucía,Harbour Parents,partner\n").encode("latin-1"))
    result = cos(settings, "people", "import", "harbour-air", str(path))
    assert result.exit_code == 1
    assert "- line 3, column 26: not UTF-8 text (byte 0xED, which is \u201cí\u201d" in (
        result.output)
    assert emails(session) == before


def test_a_hundred_thousand_rows_with_one_bad_one_import_nothing_and_name_its_line(
        db_settings, session, tmp_path):
    load(db_settings)
    before = emails(session)
    rows = [f"p{n}@parents.example,Person {n},Harbour Parents,partner" for n in range(100_000)]
    rows[99_990] = "not-an-address,Bad Row,Harbour Parents,partner"  # line 99,992
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    result = cos(db_settings, "people", "import", "harbour-air", str(path))
    assert result.exit_code == 1
    assert "1 problem, nothing was changed" in result.output
    assert "- line 99992: 'not-an-address' is not an email address" in result.output
    assert emails(session) == before


FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_every_formula_start_is_neutralised(start):
    cell = f"{start}cmd|' /C calc'!A0"
    assert neutralise_formula(cell) == "'" + cell
    written = io.StringIO()
    csv.writer(written).writerow([neutralise_formula(cell)])
    assert next(csv.reader(io.StringIO(written.getvalue())))[0].startswith("'")


def test_formula_cells_imported_from_a_csv_come_out_of_every_export_as_text(
        db_settings, tmp_path):
    load(db_settings)
    hostile = {start: f"{start}cmd|' /C calc'!A0 {n}" for n, start in enumerate("=+-@")}
    lines = [f'x{n}@parents.example,"{name}","{name} Org",partner'
             for n, name in enumerate(hostile.values())]
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    imported = cos(db_settings, "people", "import", "harbour-air", str(path))
    assert imported.exit_code == 0, imported.output
    cos(db_settings, "campaign", "start", "harbour-air")
    for what in ("people", "answers", "commitments", "scoreboard"):
        result = cos(db_settings, "export", "harbour-air", "--what", what)
        assert result.exit_code == 0, result.output
        for row in csv.reader(io.StringIO(result.stdout)):
            for cell in row:
                if cell[:1] in FORMULA_STARTS and not cell.lstrip("+-").replace(".", "").isdigit():
                    raise AssertionError(f"{what}: a cell starts a formula: {cell!r}")
    people = cos(db_settings, "export", "harbour-air", "--what", "people").stdout
    for name in hostile.values():
        assert f"'{name}" in people and f"'{name} Org" in people


def test_the_decoder_names_line_and_column_across_lines():
    with pytest.raises(UnreadableText) as caught:
        decode_file_text(b"a,b\nok,\xc3\xa9\nxy\xff\n")
    assert (caught.value.line, caught.value.column) == (3, 3)
    assert decode_file_text("\ufeffé".encode()) == "é"
