"""The phase items a check-in carries: the anchor, the focus phase, one rotating, the echo."""

from __future__ import annotations

import pytest

from pipeline.core.phases import Phase
from pipeline.core.questions import Rotation, checkin_items, rotation_from, stored_value


def test_a_check_in_asks_the_anchor_two_focus_items_and_one_of_another_phase() -> None:
    items, echo = checkin_items(1, Phase.WIN)
    assert items == ("M2", "W2", "W3", "R1")
    assert echo is False


def test_the_focus_items_turn_so_every_item_of_the_phase_is_asked_within_two_weeks() -> None:
    asked = [checkin_items(n, Phase.ALIGN)[0][1:3] for n in (1, 2, 3)]
    assert asked == [("A1", "A2"), ("A3", "A1"), ("A2", "A3")]
    momentum = checkin_items(1, Phase.MOMENTUM)[0]
    assert momentum[:3] == ("M2", "M1", "M3")  # the anchor is not asked twice


def test_the_other_phase_turns_round_by_round_and_the_echo_comes_every_fourth_round() -> None:
    others = [checkin_items(n, Phase.WIN)[0][-1] for n in range(1, 6)]
    assert others == ["R1", "A1", "S1", "T2", "M1"]
    assert [checkin_items(n, Phase.WIN)[1] for n in range(1, 9)] == [
        False, False, False, True, False, False, False, True]


@pytest.mark.parametrize("number", range(1, 30))
@pytest.mark.parametrize("focus", list(Phase))
def test_never_more_than_six_closed_items_with_the_pulse(number: int, focus: Phase) -> None:
    rotation = Rotation(focus_items=3, other_items=3)
    items, _ = checkin_items(number, focus, rotation)
    assert len(items) + 1 <= 6
    assert len(set(items)) == len(items)
    assert checkin_items(number, focus, rotation) == (items, _)


def test_a_coalition_sets_its_rotation_and_bad_settings_are_named() -> None:
    assert rotation_from({"focus_items": 3, "echo_every": 0}) == Rotation(focus_items=3,
                                                                          echo_every=0)
    with pytest.raises(ValueError, match="unknown rotation setting 'focus'"):
        rotation_from({"focus": 3})
    with pytest.raises(ValueError, match="6 or less"):
        rotation_from({"max_closed": 9})
    with pytest.raises(ValueError, match="anchor"):
        rotation_from({"anchor": "Z9"})


def test_answers_are_stored_as_the_phase_engine_reads_them() -> None:
    assert stored_value("R1", "4") == 4
    assert stored_value("R1", "not_sure") == "not_sure"
    assert stored_value("A1", "partly") == "partly"
    assert stored_value("R1", "") is None
