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
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from dataset_builder.filters import (
    CopiesProfile,
    CopiesReference,
    FilterRunner,
    OutOfCharacter,
    TooShort,
)
from dataset_builder.retrieval import ExchangeIndex
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.scripts import Line, is_narration, parse_profile
from dataset_builder.segment import Exchange, exchanges
from rolellm.atomic import write_jsonl
from rolellm.engine.engine import Engine
from rolellm.engine.types import ChatRequest, ChatResult
from rolellm.errors import InputError
from rolellm.rules import RulesConfig

# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Role:
    name: str
    slug: str
    lang: str
    held_out: bool = False
    description: str = ""
    catchphrases: tuple[str, ...] = ()


class PoolRow(BaseModel):
    id: str | int
    lang: Literal["en", "zh"]
    kind: str = ""
    instruction: Annotated[str, Field(min_length=1)]
    answer: str = ""
    split: Literal["train", "test"]


def load_roles(profiles_dir: str | Path) -> list[Role]:
    """roles.json of a profiles folder as Role records."""
    path = Path(profiles_dir) / "roles.json"
    if not path.is_file():
        raise InputError(f"{path}: roster not found (run the profiles stage first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_role(entry) for entry in data]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"{path}: not a list of roles with name, slug, lang ({err})") from None


def _role(entry: dict[str, Any]) -> Role:
    return Role(
        name=str(entry["name"]),
        slug=str(entry["slug"]),
        lang=str(entry["lang"]),
        held_out=bool(entry.get("held_out", False)),
        description=str(entry.get("description") or "").strip(),
        catchphrases=tuple(str(p) for p in entry.get("catchphrases") or ()),
    )


def select_roles(roster: Sequence[Role], wanted: Sequence[str] | None) -> list[Role]:
    """Roles named (by name or slug) in `wanted`, all when None; unknown names: InputError."""
    if wanted is None:
        return list(roster)
    known = {r.name: r for r in roster} | {r.slug: r for r in roster}
    missing = [w for w in wanted if w not in known]
    if missing:
        raise InputError(f"roles not in roles.json: {', '.join(missing)}")
    return list({known[w].slug: known[w] for w in wanted}.values())


def load_profile(profiles_dir: str | Path, role: Role) -> list[Line]:
    path = Path(profiles_dir) / f"{role.slug}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: profile of {role.name!r} not found")
    return parse_profile(path.read_text(encoding="utf-8"), str(path))


def load_role_profiles(
    profiles_dir: str | Path, wanted: Sequence[str] | None
) -> tuple[list[Role], dict[str, list[Line]]]:
    """The chosen roles of the roster and each one's profile lines, by slug."""
    chosen = select_roles(load_roles(profiles_dir), wanted)
    return chosen, {role.slug: load_profile(profiles_dir, role) for role in chosen}


def default_excluded_path(out_path: Path) -> Path:
    return out_path.with_name(f"{out_path.stem}_excluded.jsonl")


def load_pool(path: str | Path) -> list[PoolRow]:
    """The general instruction pool; a bad row is an InputError naming its line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: instruction pool not found")
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rows.append(PoolRow.model_validate_json(raw))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise InputError(f"{path}: line {number}: {where}: {first['msg']}") from None
    return rows


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


def build_messages(
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
        build_messages(role, row.instruction, row.answer, demos, cfg),
        sampling=cfg.sampling,
        seed=pair_seed(cfg.seed, role.slug, row.id),
        n=n or cfg.n,
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
    role: Role
    row: PoolRow
    demonstrations: int


def collect(
    pair: Pair, result: ChatResult, runner: FilterRunner, min_responses: int
) -> dict[str, Any] | None:
    """Filter one pair's replies; the output row, or None when too few are left."""
    role, row = pair.role, pair.row
    base = {"role": role.name, "instruction_id": row.id}
    kept = []
    for sample, reply in enumerate(result.replies):
        item = {**base, "sample": sample, "text": reply.text, "reference": row.answer}
        if not reply.ok:
            runner.reject({**item, "error": reply.error}, "engine_error")
            continue
        item["text"] = clean_reply(reply.text or "", role)
        if runner.keep(item):
            kept.append(item["text"])
    if len(kept) < min_responses:
        runner.reject({**base, "question": row.instruction, "kept": len(kept)}, "too_few_responses")
        return None
    return {
        **base,
        "question": row.instruction,
        "reference": row.answer,
        "kind": row.kind,
        "split": row.split,
        "responses": kept,
        "demonstrations": pair.demonstrations,
    }


# ----------------------------------------------------------------------------- stage


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
    roles: Sequence[Role], profiles: dict[str, list[Line]], cfg: RoleGPTConfig
) -> dict[str, ExchangeIndex]:
    """BM25 index of each role's profile exchanges, by slug."""
    return {
        role.slug: ExchangeIndex(
            exchanges(profiles[role.slug], role.name), role.lang, cfg.max_exchange_lines
        )
        for role in roles
    }


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
    out_path = Path(out_path)
    excluded_path = excluded_path or default_excluded_path(out_path)
    chosen, profiles = load_role_profiles(profiles_dir, roles)
    pairs_in, orphans = plan_pairs(chosen, load_pool(pool_path))
    indexes = exchange_indexes(chosen, profiles, cfg)
    requests, pairs = [], []
    for role, row in pairs_in:
        request, used = rolegpt_request(role, row, indexes[role.slug], cfg)
        requests.append(request)
        pairs.append(Pair(role, row, used))
    lines = {r.name: [ln.content for ln in profiles[r.slug]] for r in chosen}
    runner = response_filters(lines, rules or RulesConfig())
    results = engine.generate(requests)
    rows = [
        collect(p, res, runner, cfg.min_responses) for p, res in zip(pairs, results, strict=True)
    ]
    written = write_jsonl(out_path, (row for row in rows if row is not None))
    runner.write_excluded(excluded_path)
    return _metrics(cfg, chosen, pairs, rows, written, runner, indexes, orphans, engine)


def _metrics(cfg, roles, pairs, rows, written, runner, indexes, orphans, engine) -> dict:
    wanted = 0 if cfg.mode == "zero_shot" else cfg.k
    short = {r.name: len(indexes[r.slug]) for r in roles if len(indexes[r.slug]) < wanted}
    messages = [
        f"role {name!r} ({lang}) has no instructions in its language; no pairs made"
        for name, lang in orphans.items()
    ]
    messages += [
        f"role {name!r} has only {n} usable exchange(s): fewer than k={wanted} demonstrations"
        for name, n in short.items()
    ]
    return {
        "mode": cfg.mode,
        "roles": len(roles),
        "pairs": len(pairs),
        "written": written,
        "excluded_pairs": len(pairs) - written,
        "responses_requested": len(pairs) * cfg.n,
        "responses_kept": sum(len(r["responses"]) for r in rows if r),
        **runner.metrics(),
        "demonstrations": {
            "k": wanted,
            "used": dict(sorted(Counter(p.demonstrations for p in pairs).items())),
            "roles_short": short,
        },
        "roles_without_instructions": orphans,
        "messages": messages,
        "engine": engine.stats.as_dict(),
    }
