"""Stage `instructions`: the pool of general instructions with reference answers.

RoleLLM answers general instructions in character (RoleGPT, RAW/CUS scores); this stage
picks which instructions, keeps their original answers as the RAW reference, and decides
which of them are test-only (instruction generalization: a test instruction never occurs
in train).

Sources (`instructions.sources`, read in order):
    path    a local JSONL / JSON / CSV / TSV / Parquet file, a local dataset folder, a Hub
            dataset id (`owner/name`, loaded with `datasets.load_dataset(id, split=...)`), or
            `seed:<file>` for a file shipped in dataset_builder/seed/ (the defaults:
            `seed:instructions_en.jsonl`, `seed:instructions_zh.jsonl`, written by the team:
            open_ended / commonsense / knowledge questions with short reference answers).
    columns which source column holds the instruction, the answer and, optionally, the kind
            and the id. A column named explicitly that the source lacks is an InputError
            listing the available columns; the default `kind` / `id` columns are optional.
Rows with an empty instruction or answer are dropped and counted; so are repeated
instructions (same text once case, punctuation and spacing are ignored; the first wins).
Rows without an id get `<lang>-<first 12 hex of sha256(normalised instruction)>`.

Sampling (per language, `n_en` / `n_zh` rows, 0 = none) is deterministic and independent
of the Python version and of the order of the source files: within each kind, rows are
ranked by sha256(seed, lang, kind, id), and kinds are taken in turn (round robin, kinds by
name) so the sample is balanced across kinds as far as the pool allows; a larger n yields
a superset of a smaller one. Within each (lang, kind) of the sample, k * test_fraction
(rounded half up) rows, ranked by a second hash, become `test`, the rest `train`.

Reading a source and its column map: dataset_builder.instruction_readers.

Output (data/instructions/pool.jsonl, sorted by lang then id; rolellm.records.PoolRow):
    id, lang, kind, instruction, answer, split ("train" | "test")
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dataset_builder.instruction_readers import (
    Instruction,
    load_source,
    normalise_text,
    source_label,
)
from dataset_builder.instructions_config import LANGS, InstructionsConfig, InstructionSource
from rolellm.errors import InputError
from rolellm.records import PoolRow, write_pool

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class SourceStats:
    source: str
    lang: str
    rows: int  # rows read
    kept: int
    dropped_empty: int  # empty instruction or answer
    dropped_duplicate: int  # instruction already seen (this source or an earlier one)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_instructions(
    sources: Sequence[InstructionSource], *, cache_dir: str | Path | None = None
) -> tuple[list[Instruction], list[SourceStats]]:
    """All sources, in order, with repeated instructions (per language) dropped and
    counted. Two different instructions under one id is an InputError."""
    seen_text: set[tuple[str, str]] = set()
    seen_id: dict[str, str] = {}
    rows: list[Instruction] = []
    stats = []
    for source in sources:
        label = source_label(source)
        items, dropped_empty = load_source(source, cache_dir=cache_dir)
        kept = duplicates = 0
        for item in items:
            key = (item.lang, normalise_text(item.instruction))
            if key in seen_text:
                duplicates += 1
                continue
            if item.id in seen_id:
                where = "this source" if seen_id[item.id] == label else seen_id[item.id]
                raise InputError(
                    f"{label}: id {item.id!r} is used by two different instructions "
                    f"(the other is in {where})"
                )
            seen_text.add(key)
            seen_id[item.id] = label
            rows.append(item)
            kept += 1
        if dropped_empty or duplicates:
            log.warning(
                "%s: dropped %d rows with an empty instruction or answer and %d repeated "
                "instructions",
                label,
                dropped_empty,
                duplicates,
            )
        stats.append(
            SourceStats(
                label,
                source.lang,
                kept + duplicates + dropped_empty,
                kept,
                dropped_empty,
                duplicates,
            )
        )
    return rows, stats


# ----------------------------------------------------------------------------- sampling


def _rank(seed: int, purpose: str, lang: str, kind: str, row_id: str) -> str:
    text = f"rolellm/instructions/{purpose}/{seed}/{lang}/{kind}/{row_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _by_kind(rows: Iterable[Instruction]) -> dict[str, list[Instruction]]:
    groups: dict[str, list[Instruction]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        groups.setdefault(row.kind, []).append(row)
    return {kind: groups[kind] for kind in sorted(groups)}


def sample_instructions(rows: Sequence[Instruction], n: int, seed: int) -> list[Instruction]:
    """`n` rows of one language, balanced across kinds where the pool allows (kinds take
    turns; an exhausted kind is skipped). All rows when n >= len(rows). Deterministic: a
    function of (rows as a set, n, seed) only."""
    langs = {row.lang for row in rows}
    if len(langs) > 1:
        raise ValueError(f"sample one language at a time, got {sorted(langs)}")
    if n <= 0 or not rows:
        return []
    queues = [
        sorted(group, key=lambda r: (_rank(seed, "sample", r.lang, kind, r.id), r.id))
        for kind, group in _by_kind(rows).items()
    ]
    chosen: list[Instruction] = []
    depth = 0
    while len(chosen) < n and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def split_train_test(rows: Sequence[Instruction], test_fraction: float, seed: int) -> list[PoolRow]:
    """Each row once, as train or test: within every (lang, kind), the round(k *
    test_fraction) rows (half up) ranked first by a seeded hash are test (stratified, exact).
    A language whose kinds are all too small for a test row (a few instructions of distinct
    kinds) still gets one when it has two rows or more and test_fraction > 0: its first-ranked
    row, so that every language has an instruction-generalisation test set."""
    test_ids: set[tuple[str, str | int]] = set()
    groups: dict[tuple[str, str], list[Instruction]] = {}
    for row in rows:
        groups.setdefault((row.lang, row.kind), []).append(row)
    for (lang, kind), group in sorted(groups.items()):
        ranked = sorted(group, key=lambda r: (_rank(seed, "split", lang, kind, r.id), r.id))
        n_test = math.floor(len(ranked) * test_fraction + 0.5)
        test_ids.update((lang, row.id) for row in ranked[:n_test])
    for lang in sorted({row.lang for row in rows}):
        mine = [row for row in rows if row.lang == lang]
        if len(mine) > 1 and test_fraction > 0 and not any((lang, r.id) in test_ids for r in mine):
            first = min(mine, key=lambda r: (_rank(seed, "split", lang, "", r.id), r.id))
            test_ids.add((lang, first.id))
    out = [
        PoolRow(
            id=row.id,
            lang=row.lang,
            kind=row.kind,
            instruction=row.instruction,
            answer=row.answer,
            split="test" if (row.lang, row.id) in test_ids else "train",
        )
        for row in rows
    ]
    return sorted(out, key=lambda r: (r.lang, r.id))


def select_pool(rows: Sequence[Instruction], cfg: InstructionsConfig) -> list[PoolRow]:
    """The pool: per language, sample `n_<lang>` rows and split them into train / test."""
    chosen: list[Instruction] = []
    for lang in LANGS:
        candidates = [row for row in rows if row.lang == lang]
        n = cfg.requested(lang)
        if n > len(candidates):
            log.warning(
                "instructions: n_%s is %d but the sources hold %d; taking all of them",
                lang,
                n,
                len(candidates),
            )
        chosen.extend(sample_instructions(candidates, n, cfg.seed))
    return split_train_test(chosen, cfg.test_fraction, cfg.seed)


# ----------------------------------------------------------------------------- stage


def pool_counts(
    pool: Sequence[PoolRow],
    available: Mapping[str, int],
    cfg: InstructionsConfig,
    stats: Sequence[SourceStats] = (),
) -> dict[str, Any]:
    """Counts for a metrics file: totals, per language (and per kind) train / test."""
    splits = Counter(row.split for row in pool)
    by_lang: dict[str, Any] = {}
    for lang in LANGS:
        rows = [row for row in pool if row.lang == lang]
        if not rows and not available.get(lang) and not cfg.requested(lang):
            continue
        kinds: dict[str, dict[str, int]] = {}
        for row in sorted(rows, key=lambda r: r.kind):
            entry = kinds.setdefault(row.kind, {"train": 0, "test": 0})
            entry[row.split] += 1
        lang_splits = Counter(row.split for row in rows)
        by_lang[lang] = {
            "available": int(available.get(lang, 0)),
            "requested": cfg.requested(lang),
            "selected": len(rows),
            "train": lang_splits["train"],
            "test": lang_splits["test"],
            "by_kind": kinds,
        }
    return {
        "total": len(pool),
        "train": splits["train"],
        "test": splits["test"],
        "by_lang": by_lang,
        "dropped_empty": sum(s.dropped_empty for s in stats),
        "dropped_duplicate": sum(s.dropped_duplicate for s in stats),
        "sources": [s.to_dict() for s in stats],
    }


def build_instruction_pool(
    cfg: InstructionsConfig,
    out_path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Read the sources, sample, split, and write the pool atomically to `out_path`
    (default `cfg.out`). Returns the counts (see pool_counts)."""
    rows, stats = load_instructions(cfg.sources, cache_dir=cache_dir)
    pool = select_pool(rows, cfg)
    target = Path(out_path) if out_path is not None else Path(cfg.out)
    write_pool(target, pool)
    available = Counter(row.lang for row in rows)
    return pool_counts(pool, available, cfg, stats)
