"""Stage `assemble`: generated rows + roster -> a RoleBench folder (dataset_builder.schema).

Input columns:
    rolegpt.jsonl: role, instruction_id, question, reference, kind, split, responses
        (the last response is the rolegpt_baseline, the others are the references)
    context_instruct.jsonl: role, question, answer, type, confidence
    roles.json: name, lang, held_out (+ any other roster keys, copied to the folder)
Output: write_rolebench(out_dir, ...): general shards {role, question, generated,
    reference, kind}; role-specific shards {role, question, generated: [answer], type,
    confidence}.

Splits per config (held-out roles never appear in a train split):
    eng_instruction_generalization_general: non-held-out roles; train/test = the pool's
        instruction split, so test instructions are unseen in train.
    eng_instruction_generalization_role_specific: non-held-out roles; each role's items
        split into train/test by a hash of (seed, role, question) (`test_fraction`).
    eng_role_generalization_general: train = the instruction-generalisation train; test =
        held-out roles on the pool's test instructions.
    eng_role_generalization_role_specific: train = the instruction-generalisation train;
        test = every item of the held-out roles.
    zh_general / zh_role_specific: as instruction generalisation, with held-out Chinese
        roles added to test only.
    rolegpt_baseline (general configs): one row per test row, generated = [baseline].
    rolegpt_baseline (role_specific configs): one row per test row that the
        `rolegpt-specific` stage answered (rolegpt_specific.jsonl: role, question, response),
        generated = [response]; `specific_test_rows` tells that stage which rows those are.
A config is written only when both its train and test splits have rows (`skipped`; those of
a language the roster has are also `not_built`, which the stage reports). Duplicate
(role, question) rows in a split are dropped (first kept), and so are test rows of a
general config whose question is in its train split; `check_leakage` then asserts the
result and fails the stage on any leak.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dataset_builder.assemble_config import AssembleConfig
from dataset_builder.rolebench_io import ShardKey, write_rolebench
from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.atomic import read_jsonl
from rolellm.errors import InputError, RolellmError
from rolellm.records import Role, read_roster

Row = dict[str, Any]


class LeakageError(RolellmError):
    """A test question of a config is in its train split, or a held-out role is in train."""


def question_key(question: str) -> str:
    """Lower case, whitespace collapsed: the quality gate's form for leak checks."""
    return " ".join(question.split()).lower()


# ----------------------------------------------------------------------------- rows


def general_rows(rows: Iterable[Row], references: int) -> tuple[list[Row], dict[int, Row]]:
    """(general rows, baseline row by id(general row)) from rolegpt.jsonl rows."""
    out, baselines = [], {}
    for row in rows:
        responses = [r for r in row.get("responses") or [] if isinstance(r, str) and r.strip()]
        if len(responses) < 2:
            continue
        base = {"role": row["role"], "question": row["question"]}
        common = {"reference": row.get("reference") or "", "kind": row.get("kind") or ""}
        general = {
            **base,
            "generated": responses[:-1][:references],
            **common,
            "_split": row["split"],
        }
        out.append(general)
        baselines[id(general)] = {**base, "generated": [responses[-1]], **common}
    return out, baselines


def specific_rows(rows: Iterable[Row], cfg: AssembleConfig) -> list[Row]:
    """Role-specific rows with a deterministic per-role `_split`."""
    by_role: dict[str, list[Row]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["role"], question_key(row["question"]))
        if key in seen:
            continue
        seen.add(key)
        by_role[row["role"]].append(
            {
                "role": row["role"],
                "question": row["question"],
                "generated": [row["answer"]],
                "type": row["type"],
                "confidence": row.get("confidence"),
            }
        )
    out = []
    for role, items in by_role.items():
        ranked = sorted(items, key=lambda r: _rank(cfg.seed, role, r["question"]))
        n_test = math.ceil(len(ranked) * cfg.test_fraction) if len(ranked) > 1 else 0
        test_ids = {id(r) for r in ranked[:n_test]}
        out += [{**r, "_split": "test" if id(r) in test_ids else "train"} for r in items]
    return out


def _rank(seed: int, role: str, question: str) -> str:
    return hashlib.sha256(f"{seed}/{role}/{question_key(question)}".encode()).hexdigest()


# ----------------------------------------------------------------------------- configs


def _pick(rows: Iterable[Row], roles: set[str], split: str | None = None) -> list[Row]:
    return [r for r in rows if r["role"] in roles and (split is None or r["_split"] == split)]


def plan_splits(general: list[Row], specific: list[Row], roster: Sequence[Role]) -> dict:
    """{config: {split: rows}} before de-duplication (rows still carry `_split`)."""
    seen = {r.name for r in roster if r.lang == "en" and not r.held_out}
    held = {r.name for r in roster if r.lang == "en" and r.held_out}
    zh_seen = {r.name for r in roster if r.lang == "zh" and not r.held_out}
    zh_all = {r.name for r in roster if r.lang == "zh"}
    return {
        "eng_instruction_generalization_general": {
            "train": _pick(general, seen, "train"),
            "test": _pick(general, seen, "test"),
        },
        "eng_instruction_generalization_role_specific": {
            "train": _pick(specific, seen, "train"),
            "test": _pick(specific, seen, "test"),
        },
        "eng_role_generalization_general": {
            "train": _pick(general, seen, "train"),
            "test": _pick(general, held, "test"),
        },
        "eng_role_generalization_role_specific": {
            "train": _pick(specific, seen, "train"),
            "test": _pick(specific, held),
        },
        "zh_general": {
            "train": _pick(general, zh_seen, "train"),
            "test": _pick(general, zh_all, "test"),
        },
        "zh_role_specific": {
            "train": _pick(specific, zh_seen, "train"),
            "test": _pick(specific, zh_seen, "test") + _pick(specific, zh_all - zh_seen),
        },
    }


def dedupe(rows: Iterable[Row], general: bool, train: Sequence[Row] = ()) -> list[Row]:
    """Drop repeated (role, question) rows, and for general test rows any question in train."""
    seen_train = {question_key(r["question"]) for r in train} if general else set()
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        key = (row["role"], question_key(row["question"]))
        if key in seen or key[1] in seen_train:
            continue
        seen.add(key)
        kept.append(row)
    return kept


def specific_test_rows(
    context_instruct: Iterable[Row], roster: Sequence[Role], cfg: AssembleConfig
) -> list[Row]:
    """Role-specific rows that land in a test split of any config (each once)."""
    plan = plan_splits([], specific_rows(context_instruct, cfg), roster)
    tests = (plan[c.name]["test"] for c in CONFIGS_BY_NAME.values() if c.kind == "role_specific")
    return [_public(r) for r in dedupe((r for rows in tests for r in rows), general=False)]


def specific_baselines(rows: Iterable[Row]) -> dict[tuple[str, str], str]:
    """(role, question key) -> RoleGPT answer, from rolegpt_specific.jsonl rows."""
    return {(r["role"], question_key(r["question"])): r["response"] for r in rows}


def _baseline_rows(test: Sequence[Row], general: bool, baselines, specific) -> list[Row]:
    if general:
        return [baselines[id(r)] for r in test]
    keyed = ((r, specific.get((r["role"], question_key(r["question"])))) for r in test)
    return [{**_public(r), "generated": [answer]} for r, answer in keyed if answer]


def build_shards(
    plan: Mapping[str, Mapping[str, list[Row]]],
    baselines: Mapping[int, Row],
    specific: Mapping[tuple[str, str], str] | None = None,
) -> tuple[dict[ShardKey, list[Row]], dict[str, Any]]:
    """Final shards (private `_split` removed) and what was dropped or skipped.
    `specific`: role-specific RoleGPT answers by (role, question key), see
    `specific_baselines`."""
    shards: dict[ShardKey, list[Row]] = {}
    dropped: Counter[str] = Counter()
    skipped = []
    for config, splits in plan.items():
        general = CONFIGS_BY_NAME[config].kind == "general"
        train = dedupe(splits["train"], False)
        test = dedupe(splits["test"], general, train)
        dropped[config] = len(splits["train"]) + len(splits["test"]) - len(train) - len(test)
        if not train or not test:
            skipped.append(config)
            continue
        shards[(config, "train")] = [_public(r) for r in train]
        shards[(config, "test")] = [_public(r) for r in test]
        baseline = _baseline_rows(test, general, baselines, specific or {})
        if baseline:
            shards[(config, "rolegpt_baseline")] = baseline
    return shards, {
        "dropped_duplicates": {k: v for k, v in dropped.items() if v},
        "skipped": skipped,
    }


def _public(row: Row) -> Row:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def check_leakage(shards: Mapping[ShardKey, Sequence[Row]], roster: Sequence[Role]) -> None:
    """LeakageError (one line) when a test question of a config is in its train split
    (general configs: the question alone; role-specific: role + question), or a held-out
    role is in any train split."""
    held = {r.name for r in roster if r.held_out}
    for (config, split), rows in sorted(shards.items()):
        if split == "train" and (bad := sorted({r["role"] for r in rows} & held)):
            raise LeakageError(f"leakage: {config}/train holds held-out role(s) {', '.join(bad)}")
        if split != "test" or (config, "train") not in shards:
            continue
        general = CONFIGS_BY_NAME[config].kind == "general"
        train = {_leak_key(r, general) for r in shards[(config, "train")]}
        leaks = [r["question"] for r in rows if _leak_key(r, general) in train]
        if leaks:
            raise LeakageError(
                f"leakage: {config}: {len(leaks)} test question(s) also in train, e.g. {leaks[0]!r}"
            )


def _leak_key(row: Row, general: bool) -> tuple[str, str]:
    return ("" if general else row["role"], question_key(row["question"]))


# ----------------------------------------------------------------------------- stage


def _read(path: str | Path, what: str) -> list[Row]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return read_jsonl(path)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from None


def run_assemble(
    rolegpt_path: str | Path,
    context_instruct_path: str | Path,
    roles_path: str | Path,
    out_dir: str | Path,
    cfg: AssembleConfig,
    card_body: str | None = None,
    rolegpt_specific_path: str | Path | None = None,
) -> dict[str, Any]:
    """Build and write the RoleBench folder; returns row counts per config/split.
    Without `rolegpt_specific_path` the role_specific configs get no rolegpt_baseline."""
    roster = read_roster(roles_path)
    known = {r.name for r in roster}
    general, baselines = general_rows(_read(rolegpt_path, "RoleGPT output"), cfg.references)
    specific = specific_rows(_read(context_instruct_path, "Context-Instruct output"), cfg)
    unknown = sorted({r["role"] for r in general + specific} - known)
    if unknown:
        raise InputError(f"{roles_path}: generated rows name roles not in the roster: {unknown}")
    answers = {}
    if rolegpt_specific_path is not None:
        answers = specific_baselines(_read(rolegpt_specific_path, "role-specific RoleGPT output"))
    shards, notes = build_shards(plan_splits(general, specific, roster), baselines, answers)
    if not shards:
        raise InputError("assemble: no config has both train and test rows; nothing to write")
    check_leakage(shards, roster)
    counts = write_rolebench(out_dir, shards, roster, card_body)
    langs = {role.lang for role in roster}
    notes["not_built"] = [c for c in notes["skipped"] if CONFIGS_BY_NAME[c].lang in langs]
    return {"rows": {f"{c}/{s}": n for (c, s), n in counts.items()}, **notes}
