"""rolellm.records: the roster (roles.json), the instruction pool, the one slug rule, JSON
reading."""

from __future__ import annotations

import json
import re

import pytest

from rolellm.errors import InputError
from rolellm.records import (
    SLUG_PATTERN,
    PoolRow,
    Role,
    find_role,
    read_json,
    read_pool,
    read_roster,
    role_slug,
    select_roles,
    write_pool,
    write_roster,
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Lady Macbeth", "lady-macbeth"),
        ("KING CLAUDIUS", "king-claudius"),
        ("Amélie Poulain", "amelie-poulain"),
        ("MARCELLUS & HORATIO", "marcellus-horatio"),
        ("Dr. Who?", "dr-who"),
    ],
)
def test_ascii_slugs(name, slug):
    assert role_slug(name) == slug


def test_chinese_slugs_are_the_names_themselves():
    assert role_slug("孙悟空") == "孙悟空"
    assert role_slug("Dr. 王") == "dr-王"
    assert role_slug("ＡＢＣ 王") == "abc-王"  # full-width letters read as ASCII (NFKC)
    assert role_slug("孙悟空") != role_slug("猪八戒")
    assert re.fullmatch(SLUG_PATTERN, role_slug("陈 掌柜"))


@pytest.mark.parametrize("name", ["", "   ", "../x", "/etc", "..", "a\\b", "!!!"])
def test_unsafe_names_rejected(name):
    with pytest.raises(InputError):
        role_slug(name)


# --- roster ---------------------------------------------------------------------------

ENTRIES = [
    {
        "name": "Hamlet",
        "slug": "hamlet",
        "lang": "en",
        "held_out": False,
        "description": "Prince of Denmark.",
        "catchphrases": ["To be, or not to be"],
        "source_script": "hamlet.md",
        "lines": 359,
    },
    {"name": "孙悟空", "lang": "zh", "held_out": True},
]


def test_roster_round_trip_keeps_every_key(tmp_path):
    written = write_roster(tmp_path, ENTRIES)
    on_disk = json.loads((tmp_path / "roles.json").read_text(encoding="utf-8"))
    assert on_disk[0] == ENTRIES[0]  # extra keys kept, core keys first
    assert on_disk[1]["slug"] == role_slug("孙悟空")  # filled in by the one slug rule
    roles = read_roster(tmp_path / "roles.json")
    assert roles == written and read_roster(tmp_path) == roles
    hamlet = roles[0]
    assert hamlet.catchphrases == ("To be, or not to be",)
    assert hamlet.extra == {"source_script": "hamlet.md", "lines": 359}
    assert roles[1].held_out and roles[1].lang == "zh" and roles[1].description == ""


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "roster not found"),
        ("[{", "not valid JSON"),
        ('{"name": "Hamlet"}', "expected a list of roles"),
        ('[{"lang": "en"}]', "role entry without a name"),
        ('[{"name": "Hamlet", "lang": "fr"}]', "lang must be en or zh"),
        ('["Hamlet"]', "each role must be an object"),
        ('[{"name": "Hamlet"}, {"name": "HAMLET"}]', "share the slug 'hamlet'"),
    ],
)
def test_bad_rosters_name_the_file(tmp_path, content, problem):
    path = tmp_path / "roles.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=problem) as err:
        read_roster(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_entries_are_normalised():
    role = Role.from_entry(
        {"name": " Hamlet ", "description": " Prince. ", "catchphrases": [" ", "Words"]}
    )
    assert (role.name, role.slug, role.lang, role.held_out) == ("Hamlet", "hamlet", "en", False)
    assert role.description == "Prince." and role.catchphrases == ("Words",)
    assert Role.from_entry({"name": "Yorick", "catchphrases": "Alas"}).catchphrases == ("Alas",)


def test_find_and_select_roles():
    roles = [Role.from_entry(e) for e in ENTRIES]
    assert find_role(roles, "hamlet").name == "Hamlet"
    assert find_role(roles, " HAMLET ").name == "Hamlet"
    assert find_role(roles, "孙悟空").lang == "zh"
    assert find_role({r.name: r for r in roles}, "HAMLET").name == "Hamlet"  # mapping
    with pytest.raises(InputError, match="unknown role 'Falstaff'"):
        find_role(roles, "Falstaff")
    assert select_roles(roles, None) == roles
    assert select_roles(roles, ["hamlet", "Hamlet"]) == roles[:1]
    with pytest.raises(InputError, match="roles not in roles.json: Falstaff"):
        select_roles(roles, ["Falstaff"])


def test_read_json_errors_are_one_line(tmp_path):
    assert read_json(_write(tmp_path / "a.json", '{"a": 1}')) == {"a": 1}
    with pytest.raises(InputError, match=r"b.json: summary not found"):
        read_json(tmp_path / "b.json", "summary")
    with pytest.raises(InputError, match=r"c.json: not valid JSON \(.*line 1\)"):
        read_json(_write(tmp_path / "c.json", "{"))
    (tmp_path / "d.json").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        read_json(tmp_path / "d.json")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_pool_rows_round_trip_with_fixed_keys_and_formatting(tmp_path):
    rows = [
        PoolRow(id="en-1", lang="en", kind="qa", instruction="Who?", answer="Me.", split="train"),
        PoolRow(id="zh-1", lang="zh", instruction="你是谁？", split="test"),
    ]
    path = tmp_path / "pool.jsonl"
    assert write_pool(path, rows) == 2
    assert path.read_text(encoding="utf-8") == (
        '{"id": "en-1", "lang": "en", "kind": "qa", "instruction": "Who?", "answer": "Me.", '
        '"split": "train"}\n'
        '{"id": "zh-1", "lang": "zh", "kind": "", "instruction": "你是谁？", "answer": "", '
        '"split": "test"}\n'
    )
    assert read_pool(path) == rows


def test_bad_pool_rows_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="instruction pool not found"):
        read_pool(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('\n{"id": 1, "lang": "en", "instruction": "", "split": "train"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl: line 2: instruction: String should have"):
        read_pool(bad)
