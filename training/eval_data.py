"""Test data of the `evaluate` stage: the test rows of each RoleBench config, as EvalItems,
aligned with the release's rolegpt_baseline answers, and the notes a reader needs about them.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.errors import InputError
from rolellm.records import ROLES_FILE, Role, find_role, read_roster
from training.eval_config import EvaluateConfig
from training.eval_views import EvalItem

BASELINE = "rolegpt"


@dataclass
class EvalData:
    """Test items of every config, aligned with the baseline's answers (None: none)."""

    items: list[EvalItem]
    baseline: list[str | None] | None
    cards: list[Role]
    notes: list[str] = field(default_factory=list)
    without_baseline: list[str] = field(default_factory=list)  # configs with no such split


def _configs(folder: Path, cfg: EvaluateConfig) -> list[str]:
    from dataset_builder.rolebench_io import list_shards

    present = {config for config, split in list_shards(folder) if split == cfg.split}
    if cfg.configs is not None:
        missing = [c for c in cfg.configs if c not in present]
        if missing:
            raise InputError(f"{folder}: no {cfg.split} split for config {missing[0]}")
        return list(cfg.configs)
    found = [name for name in CONFIGS_BY_NAME if name in present]
    if not found:
        raise InputError(f"{folder}: no {cfg.split} split in any RoleBench config")
    return found


def _rows(folder: Path, config: str, split: str) -> list[dict[str, Any]]:
    from dataset_builder.rolebench_io import read_shard

    return read_shard(folder, config, split).to_dict("records")


def _item(config: str, row: dict[str, Any]) -> EvalItem:
    spec = CONFIGS_BY_NAME[config]
    generated = row.get("generated")
    return EvalItem(
        config=config,
        setting=spec.setting,
        lang=spec.lang,
        kind=spec.kind,
        role=str(row["role"]),
        question=str(row["question"]),
        references=tuple(str(t) for t in (generated if generated is not None else ())),
        raw_reference=str(row.get("reference") or ""),
        type=row.get("type") or None,
    )


def _key(role: str, question: str) -> tuple[str, str]:
    return (role, question.strip())


def match_baseline(items: list[EvalItem], rows: list[dict[str, Any]]) -> list[str | None]:
    """The baseline answer of each item (role + stripped question; repeats pair in order)."""
    waiting: dict[tuple[str, str], deque[str]] = defaultdict(deque)
    for row in rows:
        answers = [str(t) for t in row.get("generated") or () if str(t).strip()]
        if answers:
            waiting[_key(str(row["role"]), str(row["question"]))].append(answers[0])
    out: list[str | None] = []
    for item in items:
        queue = waiting.get(_key(item.role, item.question))
        out.append(queue.popleft() if queue else None)
    return out


def _cards(folder: Path, items: list[EvalItem], notes: list[str]) -> list[Role]:
    path = folder / ROLES_FILE
    roster = {role.name: role for role in read_roster(path)} if path.is_file() else {}
    cards: dict[str, Role] = {}
    unknown: set[str] = set()
    for item in items:
        if item.role not in cards:
            try:
                cards[item.role] = find_role(roster, item.role)
            except InputError:
                unknown.add(item.role)
                cards[item.role] = Role(name=item.role, slug="", lang=item.lang)
    if unknown:
        notes.append(
            f"{len(unknown)} role(s) not in {path} (prompted with the name only): "
            + ", ".join(sorted(unknown)[:10])
        )
    return [cards[item.role] for item in items]


def load_eval_data(folder: Path, cfg: EvaluateConfig) -> EvalData:
    """Test rows of the chosen configs and, when present, their rolegpt_baseline answers."""
    from dataset_builder.rolebench_io import list_shards

    folder = Path(folder)
    shards = set(list_shards(folder))
    items: list[EvalItem] = []
    baseline: list[str | None] = []
    without: list[str] = []
    for config in _configs(folder, cfg):
        config_items = [_item(config, r) for r in _rows(folder, config, cfg.split)]
        if cfg.max_per_role is not None:
            config_items = _first_per_role(config_items, cfg.max_per_role)
        items.extend(config_items)
        if cfg.rolegpt and (config, "rolegpt_baseline") in shards:
            rows = _rows(folder, config, "rolegpt_baseline")
            baseline.extend(match_baseline(config_items, rows))
        else:
            without.append(config)
            baseline.extend([None] * len(config_items))
    notes: list[str] = []
    cards = _cards(folder, items, notes)
    have = len(without) < len({item.config for item in items}) and cfg.rolegpt
    return EvalData(items, baseline if have else None, cards, notes, without if have else [])


def _first_per_role(items: list[EvalItem], limit: int) -> list[EvalItem]:
    seen: dict[str, int] = defaultdict(int)
    kept = []
    for item in items:
        if seen[item.role] < limit:
            seen[item.role] += 1
            kept.append(item)
    return kept


def data_notes(data: EvalData, cfg: EvaluateConfig) -> list[str]:
    """What the reader must know about the rows: RAW skipped, baseline gaps, limits."""
    notes = list(data.notes)
    general = [i for i in data.items if i.kind == "general"]
    no_raw = sum(not i.raw_reference.strip() for i in general)
    if no_raw:
        notes.append(
            f"RAW skipped for {no_raw} of {len(general)} general rows: their `reference` "
            "(the instruction's original answer) is empty, as in an import of the original "
            "release."
        )
    if data.baseline is not None:
        pairs = [
            (item, b)
            for item, b in zip(data.items, data.baseline, strict=True)
            if item.config not in data.without_baseline
        ]
        missing = sum(b is None for _, b in pairs)
        if missing:
            notes.append(
                f"{BASELINE}: {missing} of {len(pairs)} test rows have no rolegpt_baseline "
                f"answer (matched by role + question); they are left out of {BASELINE}'s scores."
            )
        if data.without_baseline:
            notes.append(
                f"{BASELINE}: no rolegpt_baseline split for " + ", ".join(data.without_baseline)
            )
    if cfg.max_per_role is not None:
        notes.append(f"At most {cfg.max_per_role} test rows per role and config (max_per_role).")
    return notes
