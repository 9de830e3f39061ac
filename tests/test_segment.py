"""Dialogue segmentation for a target role, checked against records written by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataset_builder.scripts import NARRATION, Line, parse_script
from dataset_builder.segment import Exchange, exchanges, merge_consecutive, segment_profile

N = NARRATION
SCRIPT = [
    Line(0, 0, N, "A hall."),
    Line(0, 1, "ANNA", "Hi."),
    Line(0, 2, "ANNA", "Anyone here?"),
    Line(0, 3, "TOM", "Yes."),
    Line(0, 4, "BEN", "Who are you?"),
    Line(0, 5, N, "Tom turns."),
    Line(0, 6, "TOM", "A friend."),
    Line(0, 7, "TOM", "Truly."),
    Line(0, 8, "BEN", "Goodbye."),  # after Tom's last line in act 0: dropped
    Line(1, 0, "ANNA", "Nobody."),  # Tom never speaks in act 1: dropped
    Line(2, 0, "TOM", "Alone again."),
    Line(2, 1, "ANNA", "Not quite."),  # dropped
]


def test_segmentation_by_hand():
    assert segment_profile(SCRIPT, "TOM") == [
        Line(0, 0, N, "A hall."),
        Line(0, 0, "ANNA", "Hi. Anyone here?"),
        Line(0, 0, "TOM", "Yes."),
        Line(0, 1, "BEN", "Who are you?"),
        Line(0, 1, N, "Tom turns."),
        Line(0, 1, "TOM", "A friend. Truly."),
        Line(2, 0, "TOM", "Alone again."),
    ]


def test_exchange_cap_keeps_lines_nearest_the_target():
    assert segment_profile(SCRIPT, "TOM", max_exchange_lines=2) == [
        Line(0, 0, "ANNA", "Hi. Anyone here?"),
        Line(0, 0, "TOM", "Yes."),
        Line(0, 1, N, "Tom turns."),
        Line(0, 1, "TOM", "A friend. Truly."),
        Line(2, 0, "TOM", "Alone again."),
    ]


def test_every_group_ends_with_the_target():
    profile = segment_profile(SCRIPT, "ANNA")
    assert profile == [
        Line(0, 0, N, "A hall."),
        Line(0, 0, "ANNA", "Hi. Anyone here?"),
        Line(1, 0, "ANNA", "Nobody."),
        Line(2, 0, "TOM", "Alone again."),
        Line(2, 0, "ANNA", "Not quite."),
    ]


def test_exchanges():
    profile = segment_profile(SCRIPT, "TOM")
    assert exchanges(profile, "TOM") == [
        Exchange((profile[0], profile[1]), profile[2]),
        Exchange((profile[3], profile[4]), profile[5]),
        Exchange((), profile[6]),
    ]


def test_exchanges_of_an_imported_profile_skip_groups_without_the_target():
    rows = [
        Line(0, 0, "A", "a"),
        Line(0, 0, "T", "t"),
        Line(0, 0, "A", "tail"),
        Line(1, 0, "A", "x"),
    ]
    assert exchanges(rows, "T") == [Exchange((rows[0],), rows[1])]


def test_merge_joins_chinese_without_space():
    act = [
        Line(0, 0, "甄嬛", "臣妾告退。"),
        Line(0, 1, "甄嬛", "皇上保重。"),
        Line(0, 2, "甄嬛", "OK"),
    ]
    assert merge_consecutive(act) == [Line(0, 0, "甄嬛", "臣妾告退。皇上保重。 OK")]


def test_chinese_script_profile():
    lines = parse_script(Path(__file__).parent / "data" / "scripts" / "zh_script.txt")
    assert segment_profile(lines, "甄嬛") == [
        Line(0, 0, N, "第一幕 养心殿皇上坐在榻上，神色疲惫。"),
        Line(0, 0, "皇上", "朕累了。"),
        Line(0, 0, "甄嬛", "臣妾告退。"),
        Line(1, 0, N, "场景：御花园花开正好。"),
        Line(1, 0, "甄嬛", "这花开得真好。"),
    ]


def test_bad_cap():
    with pytest.raises(ValueError, match="at least 1"):
        segment_profile(SCRIPT, "TOM", max_exchange_lines=0)
