"""Stage `profiles` end to end on real plays, with LLM-written and user-overridden personas."""

from __future__ import annotations

import json
import re

import pytest

from dataset_builder.describe import DescribeConfig, Persona, persona_request
from dataset_builder.profiles import (
    SHAKESPEARE_NOTE,
    USER_NOTE,
    build_role_profiles,
    describe_roles,
    read_scripts,
    run_profiles_stage,
    write_profiles,
)
from dataset_builder.profiles_config import ProfilesConfig, RoleConfig
from dataset_builder.raw_scripts import materialise_plays, play_path
from rolellm.engine.cache import ReplyCache
from rolellm.engine.config import EngineConfig
from rolellm.engine.engine import Engine
from rolellm.errors import InputError
from tests.test_engine_local import ScriptedBackend

GOOD = (
    '{"description": "A brooding prince of Denmark who doubts everything.", '
    '"catchphrases": ["Words, words, words."]}'
)


def _cfg(tmp_path, **kw) -> ProfilesConfig:
    plays = tmp_path / "plays"
    materialise_plays(["hamlet", "macbeth"], plays)
    roles = [
        RoleConfig(name="Hamlet", script="hamlet"),
        RoleConfig(name="Lady Macbeth", script="macbeth", held_out=True),
    ]
    return ProfilesConfig(
        plays=["hamlet", "macbeth"],
        plays_dir=str(plays),
        out_dir=str(tmp_path / "profiles"),
        roles=roles,
        **kw,
    )


def _engine(tmp_path, replies):
    return Engine(ScriptedBackend(replies), ReplyCache(tmp_path / "c.sqlite"), json_retries=2)


def test_hamlet_counts_equal_an_independent_count(tmp_path):
    cfg = _cfg(tmp_path)
    profiles = {p.role.name: p for p in build_role_profiles(cfg)}
    text = play_path("hamlet").read_text(encoding="utf-8")
    assert profiles["Hamlet"].role.lines == len(re.findall(r"^\*\*HAMLET\*\*", text, re.M))
    assert len(profiles["Hamlet"].lines) == profiles["Hamlet"].role.lines
    # every dialogue group ends with the target speaking
    groups: dict = {}
    for line in profiles["Hamlet"].profile:
        groups.setdefault((line.act_id, line.diag_id), []).append(line.role)
    assert groups and all(roles[-1] == "Hamlet" for roles in groups.values())


def test_personas_from_llm_with_retry_and_overrides(tmp_path):
    overrides = tmp_path / "personas.yaml"
    overrides.write_text("Lady Macbeth:\n  catchphrases: ['Out, damned spot!']\n")
    cfg = _cfg(tmp_path, describe=DescribeConfig(overrides=str(overrides)))
    profiles = build_role_profiles(cfg)
    replies = ["not json", GOOD, GOOD]  # Hamlet: retried once; Lady Macbeth: first try
    personas = describe_roles(profiles, cfg.describe, _engine(tmp_path, replies), seed=0)
    assert personas["Hamlet"]["description"].startswith("A brooding prince")
    assert personas["Hamlet"]["persona_source"] == "llm"
    assert personas["Lady Macbeth"]["catchphrases"] == ["Out, damned spot!"]
    assert personas["Lady Macbeth"]["persona_source"] == "llm+overrides"

    write_profiles(tmp_path / "profiles", profiles, personas)
    roster = json.loads((tmp_path / "profiles" / "roles.json").read_text())
    assert [r["slug"] for r in roster] == ["hamlet", "lady-macbeth"]
    assert [r["held_out"] for r in roster] == [False, True]
    rows = [
        json.loads(x) for x in (tmp_path / "profiles" / "hamlet.jsonl").read_text().splitlines()
    ]
    assert set(rows[0]) == {"act_id", "diag_id", "role", "content"}


def test_persona_prompt_carries_the_roles_own_lines(tmp_path):
    cfg = _cfg(tmp_path)
    hamlet = build_role_profiles(cfg)[0]
    request = persona_request("Hamlet", "the play Hamlet", hamlet.lines, cfg.describe, 0)
    prompt = request.messages[0]["content"]
    assert issubclass(request.reply_model, Persona)  # asks for k catchphrases at most
    schema = request.reply_model.model_json_schema()
    assert schema["properties"]["catchphrases"]["maxItems"] == cfg.describe.catchphrases
    bullets = [ln[2:] for ln in prompt.splitlines() if ln.startswith("- ")]
    own = {line.content[: cfg.describe.max_line_chars] for line in hamlet.lines}
    assert len(bullets) == cfg.describe.lines_in_prompt and set(bullets) <= own


def test_invalid_persona_reply_is_reported_and_nothing_written(tmp_path):
    cfg = _cfg(tmp_path)
    engine_cfg = EngineConfig(cache_dir=str(tmp_path / "cache"))
    profiles = build_role_profiles(cfg)
    with pytest.raises(
        InputError,
        match="role 'Hamlet': no valid persona reply: reply is not valid Persona JSON after 3"
        r".*personas file \(profiles.describe.overrides\)",
    ):
        describe_roles(profiles, cfg.describe, _engine(tmp_path, ["nope"] * 6), seed=0)
    assert not (tmp_path / "profiles").exists()
    assert engine_cfg.cache_dir  # the stage builds its engine from this config


def test_override_for_unknown_role_is_noted_not_used(tmp_path, capsys):
    overrides = tmp_path / "personas.yaml"
    overrides.write_text("Yorick:\n  description: alas\n")
    cfg = _cfg(tmp_path, describe=DescribeConfig(overrides=str(overrides)))
    engine = _engine(tmp_path, [GOOD] * 2)
    personas = describe_roles(build_role_profiles(cfg), cfg.describe, engine, seed=0)
    assert "unused entries ['Yorick']" in capsys.readouterr().err
    assert "Yorick" not in personas and personas["Hamlet"]["persona_source"] == "llm"


def test_stage_with_full_overrides_makes_no_llm_call(tmp_path):
    overrides = tmp_path / "personas.yaml"
    overrides.write_text(
        "Hamlet: {description: 'The melancholy prince of Denmark.', catchphrases: ['Words.']}\n"
        "Lady Macbeth: {description: 'A fierce and ambitious wife.', catchphrases: ['Out!']}\n"
    )
    cfg = _cfg(tmp_path, describe=DescribeConfig(overrides=str(overrides)))
    engine_cfg = EngineConfig(
        cache_dir=str(tmp_path / "cache"), local={"model": str(tmp_path / "no-model")}
    )
    run_profiles_stage(cfg, engine_cfg, 0, tmp_path / "metrics.json")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["engine"]["calls"] == 0 and metrics["roles"] == 2
    assert metrics["per_role"]["hamlet"]["lines"] == 359


# --- two folders: the embedded plays and the user's own scripts (issue 14) ---------------

ZH = "".join(f"甄嬛：臣妾做不到啊，第{i}次。\n华妃：贱人就是矫情。\n" for i in range(3))


def test_plays_and_own_scripts_are_read_together(tmp_path):
    cfg = _cfg(tmp_path, min_lines=3, scripts_dir=str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "zhen-huan.txt").write_text(ZH, encoding="utf-8")
    (tmp_path / "mine" / "README").write_text("skipped\n", encoding="utf-8")
    scripts, notes = read_scripts(cfg)
    assert list(scripts) == ["hamlet.md", "macbeth.md", "zhen-huan.txt"]
    assert notes["hamlet.md"] == SHAKESPEARE_NOTE and notes["zhen-huan.txt"] == USER_NOTE
    cfg.roles.append(RoleConfig(name="甄嬛"))
    built = {p.role.name: p for p in build_role_profiles(cfg)}
    assert built["甄嬛"].role.script == "zhen-huan.txt" and built["甄嬛"].source_note == USER_NOTE
    assert built["Hamlet"].source_note == SHAKESPEARE_NOTE


def test_an_empty_own_folder_is_fine_beside_plays_but_alone_is_an_error(tmp_path):
    (tmp_path / "mine").mkdir()
    cfg = _cfg(tmp_path, scripts_dir=str(tmp_path / "mine"))
    assert list(read_scripts(cfg)[0]) == ["hamlet.md", "macbeth.md"]
    with pytest.raises(InputError, match=r"mine: no script files \(.*\) and profiles.plays is"):
        read_scripts(cfg.model_copy(update={"plays": []}))


def test_own_script_may_not_share_a_play_file_name(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "hamlet.md").write_text("**HAMLET**\nMine.\n", encoding="utf-8")
    with pytest.raises(InputError, match="same file name as the embedded play"):
        read_scripts(_cfg(tmp_path, scripts_dir=str(tmp_path / "mine")))


def test_a_play_not_materialised_says_how(tmp_path):
    cfg = _cfg(tmp_path).model_copy(update={"plays": ["hamlet", "othello"]})
    with pytest.raises(InputError, match=r"embedded play 'othello' not found; run `rolellm raw"):
        read_scripts(cfg)


def test_raw_scripts_with_no_plays_makes_an_empty_folder(tmp_path):
    assert materialise_plays([], tmp_path / "plays") == []
    assert list((tmp_path / "plays").iterdir()) == []


def test_a_released_profile_with_its_description_file_beside_it(tmp_path):
    """A mixed project: Shakespeare roles and a Chinese role given as released-profile JSONL
    (`{act_id, diag_id, role, content}`, as the RoleGLM repository publishes profiles) with
    its description file beside it. No LLM call: every persona is supplied."""
    mine = tmp_path / "mine"
    mine.mkdir()
    lines = [("华妃" if i % 2 else "甄嬛", f"第{i}句话。") for i in range(8)]
    rows = [
        {"act_id": 0, "diag_id": i // 2, "role": role, "content": text}
        for i, (role, text) in enumerate(lines)
    ]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (mine / "华妃.jsonl").write_text(text, encoding="utf-8")
    (mine / "华妃.yaml").write_text(
        "华妃: {description: 华妃是年羹尧的妹妹，骄横跋扈。, catchphrases: [贱人就是矫情]}\n"
        "甄嬛: {description: 甄嬛是后宫的妃嫔。}\n",
        encoding="utf-8",
    )
    personas = tmp_path / "personas.yaml"
    personas.write_text(
        "Hamlet: {description: 'The melancholy prince of Denmark.', catchphrases: ['Words.']}\n"
        "Lady Macbeth: {description: 'A fierce and ambitious wife.', catchphrases: ['Out!']}\n"
        "华妃: {catchphrases: [本宫乏了]}\n",  # the personas file wins field by field
        encoding="utf-8",
    )
    cfg = _cfg(
        tmp_path,
        min_lines=3,
        scripts_dir=str(mine),
        describe=DescribeConfig(overrides=str(personas)),
    )
    cfg.roles.append(RoleConfig(name="华妃"))
    engine_cfg = EngineConfig(
        cache_dir=str(tmp_path / "cache"), local={"model": str(tmp_path / "no-model")}
    )
    run_profiles_stage(cfg, engine_cfg, 0, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text())["engine"]["calls"] == 0
    roster = {r["name"]: r for r in json.loads((tmp_path / "profiles" / "roles.json").read_text())}
    assert roster["华妃"]["lang"] == "zh" and roster["华妃"]["slug"] == "华妃"
    assert roster["华妃"]["description"] == "华妃是年羹尧的妹妹，骄横跋扈。"
    assert roster["华妃"]["catchphrases"] == ["本宫乏了"]
    assert roster["Hamlet"]["lang"] == "en"
    assert (tmp_path / "profiles" / "华妃.jsonl").is_file()
