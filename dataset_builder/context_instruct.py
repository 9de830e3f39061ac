"""Stage `context-instruct`: role-specific question/answer/confidence items (RoleLLM §3.3).

Input columns:
    profiles folder: roles.json [{name, slug, lang, description, catchphrases}] and
        <slug>.jsonl profile rows {act_id, diag_id, role, content}
Output columns:
    context_instruct.jsonl: role, question, answer, type, confidence, segment
        type: script_agnostic (from description + catchphrases; segment null) or
              script_based (from profile segment number `segment`)
        confidence: the model's 0-10 self-rating divided by 10 (values above 10 count as
              10), so 0.0-1.0 as the RoleBench schema stores it; items without one are
              dropped (no_confidence)
    context_instruct_excluded.jsonl: every dropped item or reply with its `reason`

One structured request per segment (`segment_exchanges` consecutive profile exchanges; at
most `max_segments` per role, spread evenly over the profile) and one request with
`agnostic_samples` samples per role for the script-agnostic kind. The reply model is
{"items": [{"question", "answer", "confidence"}]}; a bare list or a single item is accepted
too. The prompts, worked examples and reply schema live in context_instruct_prompts.py.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_builder.context_instruct_config import ContextInstructConfig
from dataset_builder.context_instruct_prompts import (
    FORMAT,
    PROMPTS,
    QAReply,
    example_texts,
    example_turns,
    scaled_confidence,
)
from dataset_builder.filters import (
    CopiesProfile,
    ExactDuplicate,
    FilterRunner,
    LowConfidence,
    Missing,
    NearAny,
    NearDuplicate,
    OutOfCharacter,
    TooShort,
)
from dataset_builder.generation.runner import load_role_profiles, profile_texts, run_task
from dataset_builder.generation.task import GenerationTask, Row, TaskRun
from dataset_builder.scripts import Line, is_narration
from dataset_builder.segment import Exchange, exchanges
from rolellm.engine.engine import Engine
from rolellm.engine.types import ChatRequest, ChatResult, Reply, at_most
from rolellm.records import Role
from rolellm.rules import RulesConfig

# ----------------------------------------------------------------------------- prompts


def segments(items: Sequence[Exchange], size: int, limit: int) -> list[tuple[int, list]]:
    """Consecutive chunks of `size` exchanges, numbered; at most `limit`, evenly spread."""
    chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
    if len(chunks) <= limit:
        return list(enumerate(chunks))
    picks = sorted({int(i * len(chunks) / limit) for i in range(limit)})
    return [(i, chunks[i]) for i in picks]


def _shown(line: Line, limit: int) -> str:
    text = line.content if len(line.content) <= limit else line.content[: limit - 1] + "…"
    return f"({text})" if is_narration(line.role) else f"{line.role}: {text}"


def scene_text(chunk: Sequence[Exchange], limit: int) -> str:
    return "\n".join(_shown(line, limit) for e in chunk for line in (*e.context, e.target))


def _catchphrases(role: Role) -> str:
    if not role.catchphrases:
        return ""
    label = "口头禅" if role.lang == "zh" else "Catchphrases"
    sep = "：" if role.lang == "zh" else ": "
    return label + sep + ", ".join(f'"{p}"' for p in role.catchphrases) + "\n"


def _seed(cfg: ContextInstructConfig, role: Role, kind: str, segment: int | None) -> int:
    key = f"context-instruct/{cfg.seed}/{role.slug}/{kind}/{segment}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _request(role: Role, kind: str, prompt: str, seed: int, n: int, cfg) -> ChatRequest:
    examples = example_turns(role.lang, kind) if cfg.worked_example else []
    return ChatRequest.of(
        [*examples, {"role": "user", "content": prompt}],
        sampling=cfg.sampling,
        seed=seed,
        n=n,
        reply_model=at_most(QAReply, "items", cfg.questions_per_segment),
        lang=role.lang,
    )


@dataclass(frozen=True)
class ItemSource:
    """The context of one request: its role, question type and segment number (None:
    script-agnostic)."""

    role: Role
    type: str
    segment: int | None


def script_based_requests(
    role: Role, profile: list[Line], cfg: ContextInstructConfig
) -> list[tuple[ChatRequest, ItemSource]]:
    template = PROMPTS[(role.lang, "script_based")]
    planned = []
    for number, chunk in segments(
        exchanges(profile, role.name), cfg.segment_exchanges, cfg.max_segments
    ):
        prompt = template.format(
            role=role.name,
            scene=scene_text(chunk, cfg.max_line_chars),
            k=cfg.questions_per_segment,
            format=FORMAT,
        )
        seed = _seed(cfg, role, "script_based", number)
        request = _request(role, "script_based", prompt, seed, 1, cfg)
        planned.append((request, ItemSource(role, "script_based", number)))
    return planned


def script_agnostic_requests(
    role: Role, cfg: ContextInstructConfig
) -> list[tuple[ChatRequest, ItemSource]]:
    if cfg.agnostic_samples == 0 or not (role.description or role.catchphrases):
        return []
    prompt = PROMPTS[(role.lang, "script_agnostic")].format(
        role=role.name,
        description=role.description,
        catchphrases=_catchphrases(role),
        k=cfg.questions_per_segment,
        format=FORMAT,
    )
    seed = _seed(cfg, role, "script_agnostic", None)
    request = _request(role, "script_agnostic", prompt, seed, cfg.agnostic_samples, cfg)
    return [(request, ItemSource(role, "script_agnostic", None))]


# ----------------------------------------------------------------------------- replies


def item_filters(
    cfg: ContextInstructConfig, profiles: dict[str, list[str]], rules: RulesConfig
) -> FilterRunner:
    return FilterRunner(
        [
            TooShort({"question": cfg.min_question_chars, "answer": cfg.min_answer_chars}),
            NearAny(("question", "answer"), example_texts(), cfg.near_duplicate, "copies_example"),
            Missing("confidence", "no_confidence"),
            LowConfidence(cfg.min_confidence),
            OutOfCharacter("answer", rules.ooc()),
            CopiesProfile("answer", profiles, rules.copy_ratio, rules.copy_min_chars),
            ExactDuplicate("question"),
            NearDuplicate("question", cfg.near_duplicate),
        ]
    )


def candidates(source: ItemSource, sample: int, reply: Reply, filters: FilterRunner) -> list[Row]:
    """The items of one reply as output rows; an unusable reply is rejected whole."""
    where = {"role": source.role.name, "type": source.type, "segment": source.segment}
    if not reply.ok or reply.parsed is None:
        reason = "invalid_reply" if reply.text is not None else "engine_error"
        filters.reject(
            {**where, "sample": sample, "text": reply.text, "error": reply.error}, reason
        )
        return []
    return [
        {
            "role": source.role.name,
            "question": item.question.strip(),
            "answer": item.answer.strip(),
            "type": source.type,
            "confidence": scaled_confidence(item.confidence),
            "segment": source.segment,
        }
        for item in reply.parsed.items
    ]


class ContextInstructTask(GenerationTask[ItemSource]):
    """Context-Instruct: question/answer/confidence items from each role's profile
    (script_based, one request per segment) and persona (script_agnostic).

    Input: the roles, their profile lines (by slug). Output rows: role, question, answer,
    type, confidence, segment. Drops: invalid_reply / engine_error (one row per reply) and
    the item filters' reasons (one row per item).
    """

    def __init__(
        self,
        roles: Sequence[Role],
        profiles: Mapping[str, list[Line]],
        cfg: ContextInstructConfig,
        rules: RulesConfig | None = None,
    ):
        self.roles, self.profiles, self.cfg = list(roles), profiles, cfg
        self.rules = rules or RulesConfig()

    def requests(self) -> list[tuple[ChatRequest, ItemSource]]:
        planned = []
        for role in self.roles:
            planned += script_agnostic_requests(role, self.cfg)
            planned += script_based_requests(role, self.profiles[role.slug], self.cfg)
        return planned

    def filters(self) -> FilterRunner:
        return item_filters(self.cfg, profile_texts(self.roles, self.profiles), self.rules)

    def rows(self, context: ItemSource, result: ChatResult, filters: FilterRunner) -> list[Row]:
        kept = []
        for sample, reply in enumerate(result.replies):
            kept += filters.run(candidates(context, sample, reply, filters))
        return kept

    def metrics(self, run: TaskRun[ItemSource]) -> dict[str, Any]:
        per_role: Counter[str] = Counter()
        replies = parsed = 0
        for source, result in zip(run.contexts, run.results, strict=True):
            for reply in result.replies:
                replies += 1
                if reply.ok and reply.parsed is not None:
                    parsed += 1
                    per_role[source.role.name] += len(reply.parsed.items)
        kept = run.rows
        kept_per_role = Counter(row["role"] for row in kept)
        return {
            "roles": len(self.roles),
            "requests": dict(Counter(source.type for source in run.contexts)),
            "replies": replies,
            "replies_parsed": parsed,
            "parse_yield": round(parsed / replies, 4) if replies else None,
            "candidates": sum(per_role.values()),
            "kept": len(kept),
            "kept_by_type": dict(Counter(row["type"] for row in kept)),
            **run.filters.metrics(),
            "per_role": {
                r.name: {"candidates": per_role[r.name], "kept": kept_per_role[r.name]}
                for r in self.roles
            },
            "messages": _messages(self.roles, run.contexts) + _empty_languages(self.roles, kept),
        }


# ----------------------------------------------------------------------------- stage


def run_context_instruct(
    profiles_dir: str | Path,
    out_path: str | Path,
    cfg: ContextInstructConfig,
    engine: Engine,
    roles: Sequence[str] | None = None,
    excluded_path: str | Path | None = None,
    rules: RulesConfig | None = None,
) -> dict[str, Any]:
    """Generate, filter and write role-specific items; returns metrics.

    Writes `out_path` and the exclusion file (default: `<out stem>_excluded.jsonl`).
    `rules`: the copy and out-of-character rules of the filters (default RulesConfig()).
    """
    chosen, profiles = load_role_profiles(profiles_dir, roles)
    task = ContextInstructTask(chosen, profiles, cfg, rules)
    return run_task(task, engine, out_path, excluded_path)


def _empty_languages(roles: Sequence[Role], kept: Sequence[dict]) -> list[str]:
    """One line per language whose roles kept no item at all (its role_specific config
    will not be built); the run goes on with the other languages."""
    have = {row["role"] for row in kept}
    out = []
    for lang in sorted({role.lang for role in roles}):
        mine = [role.name for role in roles if role.lang == lang]
        if not have & set(mine):
            config = "zh_role_specific" if lang == "zh" else "the eng_*_role_specific configs"
            out.append(
                f"no item kept for the {lang} role(s) {', '.join(mine)}: {config} will not be "
                "built (the reasons are in the excluded file; a larger engine model helps)"
            )
    return out


def _messages(roles: Sequence[Role], sources: Sequence[ItemSource]) -> list[str]:
    kinds: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        kinds[source.role.name].add(source.type)
    out = []
    for role in roles:
        for kind in ("script_agnostic", "script_based"):
            if kind not in kinds[role.name]:
                out.append(f"role {role.name!r}: no {kind} request (no description/dialogue)")
    return out
