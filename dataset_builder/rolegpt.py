"""Stage `rolegpt`: general instructions answered in character (RoleLLM's RoleGPT).

Input columns:
    pool (data/instructions/pool.jsonl): id, lang, kind, instruction, answer, split
    profiles folder: roles.json [{name, slug, lang, held_out, description, catchphrases}]
        and <slug>.jsonl profile rows {act_id, diag_id, role, content}
Output columns (data/generated/rolegpt.jsonl, one row per kept (role, instruction) pair):
    role, instruction_id, question, reference, kind, split,
    responses (kept replies in sample order; the last one is the rolegpt_baseline, the
    others the references; 6 when nothing was dropped), demonstrations (k used)
Exclusion file (rolegpt_excluded.jsonl beside it): dropped responses
    {role, instruction_id, sample, text, reference, reason} and dropped pairs
    {role, instruction_id, question, kept, reason: too_few_responses}.

Prompting modes: `zero_shot` (system prompt only), `few_shot_prompt` (BM25-retrieved
profile exchanges as text inside the system prompt) and `dialogue` (the same exchanges as
alternating user/assistant turns: other speakers' lines as the user turn, the role's line
as the assistant turn). The final user turn carries the question and, when the pool has
one, its original answer for reference. Every pair gets `n` samples; the seed of a pair
depends only on (seed, role slug, instruction id), so editing one role's description
changes only that role's prompts and cache keys.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_builder.filters import (
    CopiesProfile,
    CopiesReference,
    FilterRunner,
    OutOfCharacter,
    TooShort,
)
from dataset_builder.generation.runner import load_role_profiles, profile_texts, run_task
from dataset_builder.generation.task import GenerationTask, Row, TaskRun
from dataset_builder.retrieval import ExchangeIndex
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.scripts import Line, is_narration
from dataset_builder.segment import Exchange, exchanges
from rolellm.engine.engine import Engine
from rolellm.engine.types import ChatRequest, ChatResult
from rolellm.records import PoolRow, Role, read_pool
from rolellm.rules import RulesConfig

# ----------------------------------------------------------------------------- prompts


def pair_seed(seed: int, slug: str, instruction_id: str | int) -> int:
    """Seed of one (role, instruction) pair: independent of every other role's data."""
    digest = hashlib.sha256(f"rolegpt/{seed}/{slug}/{instruction_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _speaker_line(line: Line, limit: int) -> str:
    text = _cut(line.content, limit)
    return f"({text})" if is_narration(line.role) else f"{line.role}: {text}"


def system_prompt(role: Role, cfg: RoleGPTConfig) -> str:
    phrases = ""
    if role.catchphrases:
        joined = ", ".join(f'"{p}"' for p in role.catchphrases)
        phrases = cfg.template(role.lang, "catchphrases").format(phrases=joined)
    description = role.description or role.name
    if role.lang != "zh" and not description.endswith((".", "!", "?")):
        description += "."
    return cfg.template(role.lang, "system").format(
        role=role.name, description=description, catchphrases=phrases
    )


def demo_turns(demos: Sequence[Exchange], limit: int) -> list[dict[str, str]]:
    """Each exchange as a user turn (the other lines) and an assistant turn (the role's)."""
    turns = []
    for demo in demos:
        context = "\n".join(_speaker_line(line, limit) for line in demo.context)
        turns.append({"role": "user", "content": context})
        turns.append({"role": "assistant", "content": _cut(demo.target.content, limit)})
    return turns


def demo_text(role: Role, demos: Sequence[Exchange], cfg: RoleGPTConfig) -> str:
    """The exchanges as a transcript for the system prompt (few_shot_prompt mode)."""
    blocks = [
        "\n".join(_speaker_line(line, cfg.max_line_chars) for line in (*d.context, d.target))
        for d in demos
    ]
    return cfg.template(role.lang, "demos") + "\n\n" + "\n\n".join(blocks)


def user_turn(role: Role, question: str, reference: str, cfg: RoleGPTConfig) -> str:
    if not (cfg.with_reference and reference.strip()):
        return question
    template = cfg.template(role.lang, "user")
    return template.format(question=question, reference=reference.strip(), role=role.name)


def rolegpt_messages(
    role: Role, question: str, reference: str, demos: Sequence[Exchange], cfg: RoleGPTConfig
) -> list[dict[str, str]]:
    """system, [demonstrations], final user turn, laid out for cfg.mode."""
    system = system_prompt(role, cfg)
    turns: list[dict[str, str]] = []
    if cfg.mode == "few_shot_prompt" and demos:
        system += "\n\n" + demo_text(role, demos, cfg)
    elif cfg.mode == "dialogue":
        turns = demo_turns(demos, cfg.max_line_chars)
    final = {"role": "user", "content": user_turn(role, question, reference, cfg)}
    return [{"role": "system", "content": system}, *turns, final]


def rolegpt_request(
    role: Role, row: PoolRow, index: ExchangeIndex | None, cfg: RoleGPTConfig, n: int | None = None
) -> tuple[ChatRequest, int]:
    """The request of one (role, instruction) pair (`n` samples, default cfg.n) and the
    number of demonstrations used."""
    k = 0 if cfg.mode == "zero_shot" or index is None else cfg.k
    demos = index.top(row.instruction, k) if k else []
    request = ChatRequest.of(
        rolegpt_messages(role, row.instruction, row.answer, demos, cfg),
        sampling=cfg.sampling,
        seed=pair_seed(cfg.seed, role.slug, row.id),
        n=n or cfg.n,
        lang=role.lang,
    )
    return request, len(demos)


# ----------------------------------------------------------------------------- replies


def clean_reply(text: str, role: Role) -> str:
    """Strip the reply and a leading `Name:` the model may add."""
    text = text.strip()
    prefix = re.match(rf"^\s*\**{re.escape(role.name)}\**\s*[:：]\s*", text, re.IGNORECASE)
    return text[prefix.end() :].strip() if prefix else text


def response_filters(profiles: dict[str, list[str]], rules: RulesConfig) -> FilterRunner:
    ratio, chars = rules.copy_ratio, rules.copy_min_chars
    return FilterRunner(
        [
            TooShort({"text": 1}),
            OutOfCharacter("text", rules.ooc()),
            CopiesReference("text", "reference", ratio, chars),
            CopiesProfile("text", profiles, ratio, chars),
        ]
    )


@dataclass
class Pair:
    """The context of one request: the role, the instruction and the demonstrations used."""

    role: Role
    row: PoolRow
    demonstrations: int


def plan_pairs(
    roles: Sequence[Role], pool: Sequence[PoolRow]
) -> tuple[list[tuple[Role, PoolRow]], dict[str, str]]:
    """Every (role, instruction) of the same language, and roles left without any."""
    by_lang: dict[str, list[PoolRow]] = {}
    for row in pool:
        by_lang.setdefault(row.lang, []).append(row)
    pairs = [(role, row) for role in roles for row in by_lang.get(role.lang, [])]
    orphans = {role.name: role.lang for role in roles if not by_lang.get(role.lang)}
    return pairs, orphans


def exchange_indexes(
    roles: Sequence[Role], profiles: Mapping[str, list[Line]], cfg: RoleGPTConfig
) -> dict[str, ExchangeIndex]:
    """BM25 index of each role's profile exchanges, by slug."""
    return {
        role.slug: ExchangeIndex(
            exchanges(profiles[role.slug], role.name), role.lang, cfg.max_exchange_lines
        )
        for role in roles
    }


class RoleGPTTask(GenerationTask[Pair]):
    """RoleGPT: answer (role, instruction) pairs in character.

    Input: `pairs` of (role, PoolRow), the roles' profile lines (by slug; BM25 demonstrations
        and the copies_profile filter), `n` samples per pair (default cfg.n).
    Output rows: role, instruction_id, question, reference, kind, split, responses (the
        kept replies, at least `min_responses` (default cfg.min_responses), in sample
        order), demonstrations.
    Drops: engine_error, the response filters' reasons (one row per reply), and
        too_few_responses (one row per pair).
    """

    def __init__(
        self,
        roles: Sequence[Role],
        profiles: Mapping[str, list[Line]],
        pairs: Sequence[tuple[Role, PoolRow]],
        cfg: RoleGPTConfig,
        rules: RulesConfig | None = None,
        *,
        n: int | None = None,
        min_responses: int | None = None,
        orphans: Mapping[str, str] | None = None,
    ):
        self.roles, self.profiles, self.pairs, self.cfg = list(roles), profiles, pairs, cfg
        self.rules = rules or RulesConfig()
        self.n = n or cfg.n
        self.min_responses = cfg.min_responses if min_responses is None else min_responses
        self.orphans = dict(orphans or {})
        self.indexes = exchange_indexes(self.roles, profiles, cfg)

    def requests(self) -> list[tuple[ChatRequest, Pair]]:
        planned = []
        for role, row in self.pairs:
            request, used = rolegpt_request(role, row, self.indexes[role.slug], self.cfg, self.n)
            planned.append((request, Pair(role, row, used)))
        return planned

    def filters(self) -> FilterRunner:
        return response_filters(profile_texts(self.roles, self.profiles), self.rules)

    def rows(self, context: Pair, result: ChatResult, filters: FilterRunner) -> list[Row]:
        """Filter one pair's replies; its output row, or none when too few are left."""
        role, row = context.role, context.row
        base = {"role": role.name, "instruction_id": row.id}
        kept = []
        for sample, reply in enumerate(result.replies):
            item = {**base, "sample": sample, "text": reply.text, "reference": row.answer}
            if not reply.ok:
                filters.reject({**item, "error": reply.error}, "engine_error")
                continue
            item["text"] = clean_reply(reply.text or "", role)
            if filters.keep(item):
                kept.append(item["text"])
        if len(kept) < self.min_responses:
            filters.reject(
                {**base, "question": row.instruction, "kept": len(kept)}, "too_few_responses"
            )
            return []
        return [
            {
                **base,
                "question": row.instruction,
                "reference": row.answer,
                "kind": row.kind,
                "split": row.split,
                "responses": kept,
                "demonstrations": context.demonstrations,
            }
        ]

    def metrics(self, run: TaskRun[Pair]) -> dict[str, Any]:
        cfg, pairs = self.cfg, run.contexts
        wanted = 0 if cfg.mode == "zero_shot" else cfg.k
        sizes = {role.name: len(self.indexes[role.slug]) for role in self.roles}
        short = {name: size for name, size in sizes.items() if size < wanted}
        messages = [
            f"role {name!r} ({lang}) has no instructions in its language; no pairs made"
            for name, lang in self.orphans.items()
        ]
        messages += [
            f"role {name!r} has only {n} usable exchange(s): fewer than k={wanted} demonstrations"
            for name, n in short.items()
        ]
        return {
            "mode": cfg.mode,
            "roles": len(self.roles),
            "pairs": len(pairs),
            "written": len(run.rows),
            "excluded_pairs": len(pairs) - len(run.rows),
            "responses_requested": len(pairs) * cfg.n,
            "responses_kept": sum(len(row["responses"]) for row in run.rows),
            **run.filters.metrics(),
            "demonstrations": {
                "k": wanted,
                "used": dict(sorted(Counter(p.demonstrations for p in pairs).items())),
                "roles_short": short,
            },
            "roles_without_instructions": self.orphans,
            "messages": messages,
        }


# ----------------------------------------------------------------------------- stage


def run_rolegpt(
    pool_path: str | Path,
    profiles_dir: str | Path,
    out_path: str | Path,
    cfg: RoleGPTConfig,
    engine: Engine,
    roles: Sequence[str] | None = None,
    excluded_path: str | Path | None = None,
    rules: RulesConfig | None = None,
) -> dict[str, Any]:
    """Answer every same-language (role, instruction) pair in character; returns metrics.

    Writes `out_path` and the exclusion file (default: `<out stem>_excluded.jsonl`).
    `rules`: the copy and out-of-character rules of the filters (default RulesConfig()).
    """
    chosen, profiles = load_role_profiles(profiles_dir, roles)
    pairs, orphans = plan_pairs(chosen, read_pool(pool_path))
    task = RoleGPTTask(chosen, profiles, pairs, cfg, rules, orphans=orphans)
    return run_task(task, engine, out_path, excluded_path)
