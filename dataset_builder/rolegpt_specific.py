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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dataset_builder.assemble import specific_test_rows
from dataset_builder.assemble_config import AssembleConfig
from dataset_builder.filters import FilterRunner
from dataset_builder.generation.runner import load_role_profiles, run_task
from dataset_builder.generation.task import Row, TaskRun
from dataset_builder.rolegpt import Pair, RoleGPTTask
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.scripts import Line
from rolellm.atomic import read_jsonl
from rolellm.engine.engine import Engine
from rolellm.engine.types import ChatResult
from rolellm.errors import InputError
from rolellm.records import PoolRow, Role, read_roster
from rolellm.rules import RulesConfig


def question_id(question: str) -> str:
    """A stable id for a role-specific question (it salts the sample seed)."""
    return "specific-" + hashlib.sha256(question.encode()).hexdigest()[:16]


def baseline_pairs(rows: Sequence[dict], roles: dict[str, Role]) -> list[tuple[Role, PoolRow]]:
    """Each Context-Instruct test row as a (role, PoolRow) pair without reference answer."""
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


class SpecificBaselineTask(RoleGPTTask):
    """RoleGPT on role-specific test questions: one sample each, kept when it passes.

    Output rows: role, question, response, demonstrations.
    """

    def __init__(
        self,
        roles: Sequence[Role],
        profiles: Mapping[str, list[Line]],
        pairs: Sequence[tuple[Role, PoolRow]],
        cfg: RoleGPTConfig,
        rules: RulesConfig | None = None,
    ):
        super().__init__(roles, profiles, pairs, cfg, rules, n=1, min_responses=1)

    def rows(self, context: Pair, result: ChatResult, filters: FilterRunner) -> list[Row]:
        return [
            {
                "role": answered["role"],
                "question": answered["question"],
                "response": answered["responses"][0],
                "demonstrations": answered["demonstrations"],
            }
            for answered in super().rows(context, result, filters)
        ]

    def metrics(self, run: TaskRun[Pair]) -> dict[str, Any]:
        return {
            "test_questions": len(run.contexts),
            "answered": len(run.rows),
            **run.filters.metrics(),
        }


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
    context_instruct_path = Path(context_instruct_path)
    if not context_instruct_path.is_file():
        raise InputError(f"{context_instruct_path}: Context-Instruct output not found")
    roster = read_roster(profiles_dir)
    tests = specific_test_rows(read_jsonl(context_instruct_path), roster, split)
    chosen, profiles = load_role_profiles(profiles_dir, sorted({r["role"] for r in tests}))
    pairs = baseline_pairs(tests, {role.name: role for role in chosen})
    return run_task(SpecificBaselineTask(chosen, profiles, pairs, cfg, rules), engine, out_path)
