"""The cadence in a coalition file, stored in the database, shown and changed by cos schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlmodel import select

from pipeline.coalitions import LoadError, cadence_of, load_coalition
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Coalition
from pipeline.schema import alembic_config
from tests.helpers import DATA, cos

WEEKLY = """
[cadence]
open = "Tuesday 09:00"
close = "Friday 17:00"
reminders = ["48h", "24h"]
quiet_hours = "21:00-08:00"
skip = ["2026-12-24"]
pause_after_failures = 3
"""


def harbour_with(tmp_path: Path, cadence: str) -> Path:
    path = tmp_path / "harbour.toml"
    path.write_text((DATA / "harbour.toml").read_text() + cadence)
    return path


def stored(settings: Settings) -> Coalition:
    with session_scope(settings.database_url) as session:
        coalition = session.exec(select(Coalition).where(Coalition.slug == "harbour-air")).one()
        session.expunge(coalition)
        return coalition


def test_a_files_cadence_is_stored_in_the_coalitions_time_zone(
        db_settings: Settings, tmp_path: Path) -> None:
    with session_scope(db_settings.database_url) as session:
        load_coalition(session, harbour_with(tmp_path, WEEKLY))
    coalition = stored(db_settings)
    cadence = cadence_of(coalition)
    assert cadence is not None and cadence.timezone == "America/New_York"
    assert coalition.cadence is not None and coalition.cadence["open"] == "Tuesday 09:00"
    assert coalition.cadence["skip"] == ["2026-W52"]
    assert coalition.pause_after_failures == 3
    assert coalition.cadence_since is not None


def test_loading_the_same_cadence_again_keeps_when_it_started(
        db_settings: Settings, tmp_path: Path) -> None:
    path = harbour_with(tmp_path, WEEKLY)
    with session_scope(db_settings.database_url) as session:
        load_coalition(session, path)
    since = stored(db_settings).cadence_since
    with session_scope(db_settings.database_url) as session:
        summary = load_coalition(session, path)
    assert stored(db_settings).cadence_since == since
    assert not summary.updated


def test_a_bad_cadence_in_a_file_names_its_line_and_changes_nothing(
        db_settings: Settings, tmp_path: Path) -> None:
    path = harbour_with(tmp_path, WEEKLY.replace("Tuesday 09:00", "Tusday 09:00")
                        .replace("pause_after_failures = 3", "pause_after_failures = 0"))
    with session_scope(db_settings.database_url) as session, pytest.raises(LoadError) as caught:
        load_coalition(session, path)
    text = str(caught.value)
    assert "[cadence].open: 'Tusday' is not a weekday; did you mean 'Tuesday'?" in text
    assert "pause_after_failures should be a whole number from 1 to 1000, got 0" in text
    first_line = len((DATA / "harbour.toml").read_text().split("\n"))
    assert f"line {first_line + 2}: [cadence].open" in text


def test_cos_schedule_shows_the_cadence_and_its_next_steps_in_local_time(
        db_settings: Settings, tmp_path: Path) -> None:
    with session_scope(db_settings.database_url) as session:
        load_coalition(session, harbour_with(tmp_path, WEEKLY))
    result = cos(db_settings, "schedule", "harbour-air", "--next", "5")
    assert result.exit_code == 0, result.output
    assert "cadence in America/New_York" in result.stdout
    assert "open                 Tuesday 09:00" in result.stdout
    lines = result.stdout.split("next:\n")[1].splitlines()
    assert len(lines) == 5
    assert all(" E" in line and "T " in line for line in lines)  # EST / EDT


def test_cos_schedule_set_changes_one_setting_and_off_switches_it_off(
        db_settings: Settings, tmp_path: Path) -> None:
    with session_scope(db_settings.database_url) as session:
        load_coalition(session, harbour_with(tmp_path, WEEKLY))
    result = cos(db_settings, "schedule", "harbour-air", "--set", "close_after=2d",
                 "--set", "reminders=24h", "--set", "pause_after_failures=7", "--json")
    assert result.exit_code == 0, result.output
    coalition = stored(db_settings)
    assert coalition.cadence is not None
    assert coalition.cadence["close_after"] == "2d" and "close" not in coalition.cadence
    assert coalition.cadence["reminders"] == ["1d"]
    assert coalition.pause_after_failures == 7

    bad = cos(db_settings, "schedule", "harbour-air", "--set", "open=Funday 09:00",
              "--set", "remniders=2h")
    assert bad.exit_code == 1
    assert "remniders: is not a cadence setting (did you mean 'reminders'?)" in bad.stderr
    assert "'Funday' is not a weekday" in bad.stderr
    assert stored(db_settings).cadence == coalition.cadence

    off = cos(db_settings, "schedule", "harbour-air", "--off")
    assert off.exit_code == 0, off.output
    assert stored(db_settings).cadence is None
    assert "no cadence" in cos(db_settings, "schedule", "harbour-air").stdout


def test_the_cadence_migration_goes_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cos.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")
    command.upgrade(config, "head")
