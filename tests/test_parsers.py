"""Script parsers: exact line records on small hand-written scripts, detection, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_builder.scripts import (
    FORMATS,
    NARRATION,
    Line,
    detect_format,
    parse_folder,
    parse_script,
    write_profile,
)
from rolellm.errors import InputError

SCRIPTS = Path(__file__).parent / "data" / "scripts"
N = NARRATION


def L(act: int, diag: int, role: str, content: str) -> Line:  # noqa: N802
    return Line(act, diag, role, content)


def test_markdown_play_records():
    assert parse_script(SCRIPTS / "play.md") == [
        L(0, 0, N, "ACT I"),
        L(0, 1, N, "SCENE I. A hall."),
        L(0, 2, N, "Enter KING and PRINCE"),
        L(0, 3, "KING", "Good morrow, son."),
        L(0, 4, N, "Aside"),
        L(0, 5, "PRINCE", "A little more than kin, and less than kind--"),
        # text resuming after an interrupting direction stays in the speech;
        # the direction follows the speech
        L(0, 6, "KING", "How is it that the clouds still hang on you? Alone at last."),
        L(0, 7, N, "Exit PRINCE"),
        L(0, 8, N, "Within"),
        L(0, 9, "PRINCE", "Not so, my lord."),
        L(1, 0, N, "SCENE II. A garden."),
        L(1, 1, N, "The garden is empty."),
        L(1, 2, N, "Enter QUEEN, with a lute"),
        L(1, 3, "QUEEN", "Sweet music, play."),
        L(1, 4, N, "Exeunt"),
    ]


def test_imsdb_screenplay_records():
    assert parse_script(SCRIPTS / "screenplay.txt") == [
        L(0, 0, N, "INT. DINER - NIGHT"),
        L(0, 1, N, "Rain streaks the windows. NORA sits alone in a booth."),
        L(0, 2, "NORA", "Coffee, please. Black."),
        L(0, 3, "WAITRESS", "Coming right up."),
        L(0, 4, N, "Nora stares at the door."),
        L(0, 5, "NORA", "He's late."),
        L(1, 0, N, "EXT. PARKING LOT - CONTINUOUS"),
        L(1, 1, N, "A car pulls in. BANG!"),
        L(1, 2, "SAM", "Nora! I'm here."),
    ]


def test_fountain_records():
    assert parse_script(SCRIPTS / "scene.fountain") == [
        L(0, 0, N, "EXT. LIGHTHOUSE - DUSK"),
        L(0, 1, N, "Waves crash below. The lamp flickers."),
        L(0, 2, "MARA", "Every night the same light."),
        L(0, 3, "McCLURE", "You talk too much."),
        L(0, 4, "MARA", "Oh the sea, the sea."),
        L(1, 0, N, "INSIDE THE LAMP ROOM"),
        L(1, 1, N, "THE END"),
        L(1, 2, N, "MARA WAITS."),
    ]


def test_chinese_records():
    assert parse_script(SCRIPTS / "zh_script.txt") == [
        L(0, 0, N, "第一幕 养心殿"),
        L(0, 1, N, "皇上坐在榻上，神色疲惫。"),
        L(0, 2, "皇上", "朕累了。"),
        L(0, 3, "甄嬛", "臣妾告退。"),
        L(0, 4, "皇上", "且慢。"),
        L(1, 0, N, "场景：御花园"),
        L(1, 1, N, "花开正好。"),
        L(1, 2, "甄嬛", "这花开得真好。"),
        L(1, 3, "浣碧", "小主说得是。"),
    ]


def test_profile_jsonl_imported_as_is():
    assert parse_script(SCRIPTS / "profile.jsonl") == [
        L(0, 0, N, "A dark night."),
        L(0, 0, "Batman", "I am vengeance."),
        L(0, 1, "Joker", "Why so serious?"),
        L(1, 0, "Batman", "Where is he?"),
    ]


def test_profile_round_trip(tmp_path):
    lines = parse_script(SCRIPTS / "zh_script.txt")
    assert write_profile(tmp_path / "p.jsonl", lines) == len(lines)
    assert parse_script(tmp_path / "p.jsonl") == lines


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("play.md", "markdown"),
        ("screenplay.txt", "imsdb"),
        ("scene.fountain", "fountain"),
        ("zh_script.txt", "zh"),
        ("profile.jsonl", "profile"),
    ],
)
def test_detect_format(name, fmt, tmp_path):
    assert detect_format(SCRIPTS / name) == fmt
    renamed = tmp_path / "script.txt"  # content alone decides too
    renamed.write_bytes((SCRIPTS / name).read_bytes())
    assert detect_format(renamed) == fmt
    assert parse_script(SCRIPTS / name, fmt) == parse_script(SCRIPTS / name)


def test_parse_folder_with_override(tmp_path):
    (tmp_path / "a.md").write_bytes((SCRIPTS / "play.md").read_bytes())
    (tmp_path / "b.txt").write_bytes((SCRIPTS / "zh_script.txt").read_bytes())
    (tmp_path / ".hidden.md").write_text("junk")
    (tmp_path / "notes.csv").write_text("junk")
    parsed = parse_folder(tmp_path, formats={"b.txt": "zh"})
    assert list(parsed) == ["a.md", "b.txt"]
    assert parsed["b.txt"] == parse_script(SCRIPTS / "zh_script.txt")


def _error(path: Path, fmt: str = "auto") -> str:
    with pytest.raises(InputError) as info:
        parse_script(path, fmt)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("HAMLET: Ô père\n".encode("latin-1"))
    assert "not UTF-8" in _error(path)


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.md"
    path.write_text(content)
    assert "empty file" in _error(path)


def test_missing_file(tmp_path):
    assert "not found" in _error(tmp_path / "nope.md")


def test_no_speech_found(tmp_path):
    path = tmp_path / "directions.md"
    path.write_text("# A Play\n\n## ACT I\n\n_Enter nobody_\n\n_Exeunt_\n")
    message = _error(path, "markdown")
    assert "no speech found" in message and "'markdown'" in message


def test_no_format_recognised(tmp_path):
    path = tmp_path / "prose.txt"
    path.write_text("It was a dark and stormy night.\nNobody said a word.\n")
    message = _error(path)
    assert "cannot tell the script format" in message
    assert all(name in message for name in FORMATS) and "profiles.format" in message


def test_two_formats_plausible(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text("**HAMLET**\nTo be.\n\n甄嬛：臣妾做不到。\n")
    message = _error(path)
    assert "plausible: markdown, zh" in message and "profiles.formats" in message


def test_unknown_format_name():
    message = _error(SCRIPTS / "play.md", "docx")
    assert "unknown script format 'docx'" in message and "markdown" in message


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"act_id": 0, "diag_id": 0, "role": "A"}, "line 2: missing field 'content'"),
        ({"act_id": "0", "diag_id": 0, "role": "A", "content": "x"}, "'act_id' must be an int"),
        ({"act_id": True, "diag_id": 0, "role": "A", "content": "x"}, "'act_id' must be an int"),
        ({"act_id": 0, "diag_id": 0, "role": 3, "content": "x"}, "'role' must be a string"),
        (["not", "an", "object"], "line 2: expected a JSON object"),
    ],
)
def test_bad_profile_rows(tmp_path, row, problem):
    path = tmp_path / "bad.jsonl"
    good = {"act_id": 0, "diag_id": 0, "role": "A", "content": "hi"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    assert problem in _error(path)


def test_invalid_json_row(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"act_id": 0, "diag_id": 0, "role": "A", "content": "hi"}\n\n{oops\n')
    assert "line 3: invalid JSON" in _error(path)
