"""Stage `rolegpt-specific`: RoleGPT answers the role-specific test questions.

This gives the role_specific configs their `rolegpt_baseline` split, as in the original
release: RoleGPT (same mode, k, templates and filters as the `rolegpt` stage) answers each
Context-Instruct question that lands in a test split, once. The final user turn carries
the question only: the Context-Instruct answer is what the baseline is scored against.

Which rows are test comes from the assemble stage's own split (`specific_test_rows`, a
pure function of the rows, the roster and the assemble params), so only those are paid for.

Input: context_instruct.jsonl {role, question, answer, type, confidence, ...}; profiles
    folder (roles.json + <slug>.jsonl)
Output: rolegpt_specific.jsonl {role, question, response, demonstrations}; dropped replies
    in rolegpt_specific_excluded.jsonl
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dataset_builder.assemble import specific_test_rows
from dataset_builder.assemble_config import AssembleConfig
from dataset_builder.rolegpt import (
    Pair,
    PoolRow,
    Role,
    collect,
    default_excluded_path,
    exchange_indexes,
    load_role_profiles,
    response_filters,
    rolegpt_request,
)
from dataset_builder.rolegpt_config import RoleGPTConfig
from rolellm.atomic import read_jsonl, write_jsonl
from rolellm.engine.engine import Engine
from rolellm.errors import InputError
from rolellm.records import read_roster
from rolellm.rules import RulesConfig


def question_id(question: str) -> str:
    """A stable id for a role-specific question (it salts the sample seed)."""
    return "specific-" + hashlib.sha256(question.encode()).hexdigest()[:16]


def _pairs(rows: Sequence[dict], roles: dict[str, Role]) -> list[tuple[Role, PoolRow]]:
    pairs = []
    for row in rows:
        role = roles.get(row["role"])
        if role is None:
            raise InputError(f"Context-Instruct row names a role not in roles.json: {row['role']}")
        pool_row = PoolRow(
            id=question_id(row["question"]),
            lang=role.lang,
            instruction=row["question"],
            split="test",
        )
        pairs.append((role, pool_row))
    return pairs


def run_rolegpt_specific(
    context_instruct_path: str | Path,
    profiles_dir: str | Path,
    out_path: str | Path,
    cfg: RoleGPTConfig,
    split: AssembleConfig,
    engine: Engine,
    rules: RulesConfig | None = None,
) -> dict[str, Any]:
    """Answer every role-specific test question in character (one sample); returns metrics."""
    context_instruct_path, out_path = Path(context_instruct_path), Path(out_path)
    if not context_instruct_path.is_file():
        raise InputError(f"{context_instruct_path}: Context-Instruct output not found")
    roster = read_roster(profiles_dir)
    tests = specific_test_rows(read_jsonl(context_instruct_path), roster, split)
    chosen, profiles = load_role_profiles(profiles_dir, sorted({r["role"] for r in tests}))
    indexes = exchange_indexes(chosen, profiles, cfg)
    pairs = _pairs(tests, {role.name: role for role in chosen})
    requests, records = [], []
    for role, row in pairs:
        request, used = rolegpt_request(role, row, indexes[role.slug], cfg, n=1)
        requests.append(request)
        records.append(Pair(role, row, used))
    lines = {r.name: [ln.content for ln in profiles[r.slug]] for r in chosen}
    runner = response_filters(lines, rules or RulesConfig())
    results = engine.generate(requests)
    kept = [collect(p, res, runner, 1) for p, res in zip(records, results, strict=True)]
    rows = [_row(r) for r in kept if r is not None]
    write_jsonl(out_path, rows)
    runner.write_excluded(default_excluded_path(out_path))
    return {
        "test_questions": len(pairs),
        "answered": len(rows),
        **runner.metrics(),
        "engine": engine.stats.as_dict(),
    }


def _row(collected: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": collected["role"],
        "question": collected["question"],
        "response": collected["responses"][0],
        "demonstrations": collected["demonstrations"],
    }
