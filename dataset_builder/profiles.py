"""Stage `profiles`: raw scripts -> per-role dialogue profiles + roles.json.

Outputs (one folder, written atomically):
    <out>/<slug>.jsonl   the role's profile in the released format {act_id, diag_id, role, content}
    <out>/roles.json     [{name, slug, lang, held_out, source_script, source_note,
                           description, catchphrases, persona_source, lines, dialogues}]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dataset_builder.describe import (
    DescribeConfig,
    Persona,
    PersonaOverride,
    PersonaTask,
    load_overrides,
)
from dataset_builder.generation.runner import generate
from dataset_builder.profiles_config import ProfilesConfig
from dataset_builder.raw_scripts import SOURCES, materialised_play
from dataset_builder.roles import SelectedRole, role_lines, select_roles
from dataset_builder.scripts import Line, write_profile
from dataset_builder.scripts.detect import SCRIPT_SUFFIXES, parse_script, script_files
from dataset_builder.segment import segment_profile
from rolellm.atomic import atomic_path, write_json
from rolellm.engine.config import EngineConfig
from rolellm.engine.engine import Engine, build_engine
from rolellm.errors import InputError

SHAKESPEARE_NOTE = SOURCES[".md"][1]


USER_NOTE = "user-supplied script"


@dataclass
class RoleProfile:
    role: SelectedRole
    lines: list[Line]  # the role's own lines (for the persona prompt)
    profile: list[Line]  # segmented dialogue
    source_note: str = USER_NOTE  # roles.json `source_note`: where the script comes from


def read_scripts(cfg: ProfilesConfig) -> tuple[dict[str, list[Line]], dict[str, str]]:
    """Every script the stage reads, parsed and keyed by file name: the plays named in
    cfg.plays (`<plays_dir>/<slug>.<suffix>`, as `raw-scripts` writes them) and every script in the
    user's cfg.scripts_dir (read only). Returns (scripts, file name -> source note).

    InputError when a named play was not materialised, the user's folder does not exist,
    nothing is left to read (no plays and no script in the folder), or a file name occurs
    in both folders."""
    scripts: dict[str, list[Line]] = {}
    notes: dict[str, str] = {}
    for slug in dict.fromkeys(cfg.plays):
        path = materialised_play(slug, cfg.plays_dir)
        if path is None:
            raise InputError(
                f"{cfg.plays_dir}: embedded play '{slug}' not found; run `rolellm "
                "raw-scripts` (or `dvc repro raw-scripts`) first"
            )
        fmt, notes[path.name] = SOURCES[path.suffix]
        scripts[path.name] = parse_script(path, cfg.formats.get(path.name, fmt))
    if cfg.scripts_dir is None:
        return scripts, notes
    folder = Path(cfg.scripts_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: scripts folder not found (profiles.scripts_dir)")
    files = script_files(folder)
    if not files and not scripts:
        raise InputError(
            f"{folder}: no script files ({', '.join(sorted(SCRIPT_SUFFIXES))}) and "
            "profiles.plays is empty: nothing to read (profiles.scripts_dir)"
        )
    for path in files:
        if path.name in scripts:
            raise InputError(
                f"{path}: same file name as the embedded play {Path(cfg.plays_dir) / path.name}"
                " (profiles.plays); rename your file or drop the play"
            )
        scripts[path.name] = parse_script(path, cfg.formats.get(path.name, cfg.format))
        notes[path.name] = USER_NOTE
    return scripts, notes


def build_role_profiles(cfg: ProfilesConfig) -> list[RoleProfile]:
    scripts, notes = read_scripts(cfg)
    out = []
    for role in select_roles(cfg, scripts):
        lines = role_lines(role, scripts[role.script], cfg)
        own = [ln for ln in lines if ln.role == role.name]
        profile = segment_profile(lines, role.name, cfg.max_exchange_lines)
        out.append(RoleProfile(role, own, profile, notes[role.script]))
    return out


def beside_descriptions(
    profiles: list[RoleProfile], scripts_dir: str | None
) -> dict[str, PersonaOverride]:
    """Personas from a description file beside a user's script: `<stem>.yaml` next to
    `<stem>.jsonl` (a released profile) or any other script, in the personas-file format;
    entries for roles of other scripts are ignored."""
    found: dict[str, PersonaOverride] = {}
    for p in profiles:
        beside = Path(scripts_dir or "") / Path(p.role.script).with_suffix(".yaml")
        entry = None
        if p.source_note == USER_NOTE and beside.is_file():
            entry = load_overrides(str(beside)).get(p.role.name)
        if entry is not None:
            found[p.role.name] = entry
    return found


def describe_roles(
    profiles: list[RoleProfile],
    cfg: DescribeConfig,
    engine: Engine,
    seed: int,
    beside: dict[str, PersonaOverride] | None = None,
) -> dict[str, dict]:
    """Persona per role name: the personas file wins field by field over a description file
    beside the script (`beside`), and both over the LLM reply."""
    overrides = load_overrides(cfg.overrides)
    unknown = set(overrides) - {p.role.name for p in profiles}
    if unknown:  # one personas file may serve several role sets; a typo shows up here
        print(f"note: {cfg.overrides}: unused entries {sorted(unknown)}", file=sys.stderr)
    for name, entry in (beside or {}).items():
        mine = overrides.get(name)
        overrides[name] = (
            entry
            if mine is None
            else PersonaOverride(
                description=mine.description or entry.description,
                catchphrases=mine.catchphrases or entry.catchphrases,
            )
        )
    need = [p for p in profiles if not _fully_overridden(overrides.get(p.role.name))]
    roles = [(p.role.name, _source(p.role), p.lines, p.role.lang) for p in need]
    task = PersonaTask(roles, cfg, seed)
    generated = {row["role"]: row["persona"] for row in generate(task, engine).rows}
    return {
        p.role.name: _merge(generated.get(p.role.name), overrides.get(p.role.name))
        for p in profiles
    }


def _fully_overridden(override) -> bool:
    return override is not None and override.description and override.catchphrases


def _merge(persona: Persona | None, override) -> dict:
    merged = {
        "description": persona.description if persona else None,
        "catchphrases": list(persona.catchphrases) if persona else None,
        "persona_source": "llm" if persona else "overrides",
    }
    if override is not None:
        for field in ("description", "catchphrases"):
            if getattr(override, field) is not None:
                merged[field] = getattr(override, field)
                merged["persona_source"] = "overrides" if persona is None else "llm+overrides"
    return merged


def _source(role: SelectedRole) -> str:
    title = Path(role.script).stem.replace("-", " ").title()
    return f"the play {title}" if role.lang == "en" else f"《{Path(role.script).stem}》"


def write_profiles(out_dir: Path, profiles: list[RoleProfile], personas: dict[str, dict]) -> None:
    roster = []
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for p in profiles:
            write_profile(tmp / f"{p.role.slug}.jsonl", p.profile)
            roster.append(_roster_entry(p, personas[p.role.name]))
        write_json(tmp / "roles.json", roster)


def _roster_entry(p: RoleProfile, persona: dict) -> dict:
    role = p.role
    dialogues = {(ln.act_id, ln.diag_id) for ln in p.profile}
    return {
        "name": role.name,
        "slug": role.slug,
        "lang": role.lang,
        "held_out": role.held_out,
        "source_script": role.script,
        "source_note": p.source_note,
        **persona,
        "lines": role.lines,
        "dialogues": len(dialogues),
    }


def run_profiles_stage(
    cfg: ProfilesConfig, engine_cfg: EngineConfig, seed: int, metrics: Path
) -> str:
    """The whole stage: parse, select, segment, describe (engine only when needed), write."""
    profiles = build_role_profiles(cfg)
    engine = build_engine(engine_cfg, "profiles")
    try:
        beside = beside_descriptions(profiles, cfg.scripts_dir)
        personas = describe_roles(profiles, cfg.describe, engine, seed, beside)
        engine.cache.create()  # a declared DVC output, even when every persona was supplied
    finally:
        engine.close()
    write_profiles(Path(cfg.out_dir), profiles, personas)
    per_role = {
        p.role.slug: {"lines": p.role.lines, "profile_rows": len(p.profile)} for p in profiles
    }
    write_json(
        metrics, {"roles": len(profiles), "engine": engine.stats.as_dict(), "per_role": per_role}
    )
    return f"{len(profiles)} role profile(s) in {cfg.out_dir}"
