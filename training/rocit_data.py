"""RoCIT training data: RoleBench shards -> role-conditioned prompt/completion samples.

Each sample is in TRL's conversational prompt/completion format, so the loss falls on the
answer only::

    prompt:     [{"role": "system", "content": <role prompt>}, {"role": "user", "content": q}]
    completion: [{"role": "assistant", "content": answer}]

General rows give one sample per RoleGPT reference in ``generated`` (or the first N),
role-specific rows one sample with their answer. Role-generalisation training never sees a
held-out role: when any role_generalization config is trained on, held-out roles (roles.json
``held_out``) are dropped from every config, and the result is checked.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.errors import InputError
from rolellm.records import Role, find_role, read_roster
from training.prompts import build_messages


@dataclass
class TrainingSet:
    """Samples plus the bookkeeping that goes into training_summary.json."""

    samples: list[dict[str, Any]]
    shards: list[Path]
    roles: dict[str, Role]
    excluded_roles: list[str] = field(default_factory=list)
    missing_configs: list[str] = field(default_factory=list)  # listed, but not built
    rows: int = 0
    per_config: dict[str, int] = field(default_factory=dict)

    @property
    def role_counts(self) -> dict[str, int]:
        return dict(Counter(sample["role"] for sample in self.samples))


def read_shard(root: Path, config: str, split: str) -> tuple[Path, pd.DataFrame]:
    path = root / CONFIGS_BY_NAME[config].shard_path(split)
    if not path.is_file():
        raise InputError(f"{path}: RoleBench shard not found (config {config}, split {split})")
    frame = pd.read_parquet(path)
    missing = {"role", "question", "generated"} - set(frame.columns)
    if missing:
        raise InputError(f"{path}: missing column(s) {sorted(missing)}")
    return path, frame


def _answers(generated: Any, kind: str, limit: int | None) -> list[str]:
    answers = [str(text).strip() for text in (generated if generated is not None else [])]
    answers = [text for text in answers if text]
    if kind == "role_specific":
        return answers[:1]
    return answers[:limit] if limit else answers


def _samples_for_rows(
    frame: pd.DataFrame,
    config: str,
    roles: Mapping[str, Role],
    template: str,
    limit: int | None,
) -> Iterable[dict[str, Any]]:
    kind = CONFIGS_BY_NAME[config].kind
    for role_name, question, generated in frame[["role", "question", "generated"]].itertuples(
        index=False
    ):
        role = find_role(roles, str(role_name))
        prompt = build_messages(role, str(question), template)
        for answer in _answers(generated, kind, limit):
            yield {
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": answer}],
                "role": role.name,
                "config": config,
            }


def load_training_set(
    root: Path,
    configs: Sequence[str],
    split: str,
    template: str,
    references_per_sample: int | None = None,
) -> TrainingSet:
    """Read the shards of ``configs``/``split`` under ``root`` and build RoCIT samples.

    A listed config whose shard is absent (assemble skips a config that got no rows, e.g.
    Chinese role-specific items a small generator could not write) is noted and left out;
    InputError when none of them is there or no row is usable."""
    root = Path(root)
    roles = {role.name: role for role in read_roster(root)}
    exclude_held_out = any(
        CONFIGS_BY_NAME[name].setting == "role_generalization" for name in configs
    )
    held_out = (
        {card.name for card in roles.values() if card.held_out} if exclude_held_out else set()
    )
    result = TrainingSet(samples=[], shards=[], roles=roles, excluded_roles=sorted(held_out))
    for config in configs:
        if not (root / CONFIGS_BY_NAME[config].shard_path(split)).is_file():
            result.missing_configs.append(config)
            continue
        path, frame = read_shard(root, config, split)
        result.shards.append(path)
        result.rows += len(frame)
        keep = [find_role(roles, str(role)).name not in held_out for role in frame["role"]]
        frame = frame.loc[pd.Series(keep, index=frame.index, dtype=bool)]
        samples = list(_samples_for_rows(frame, config, roles, template, references_per_sample))
        result.per_config[config] = len(samples)
        result.samples.extend(samples)
    leaked = held_out & {sample["role"] for sample in result.samples}
    assert not leaked, f"held-out roles leaked into training: {sorted(leaked)}"
    if not result.shards:
        read_shard(root, configs[0], split)  # the first missing shard, named in one line
    if result.missing_configs:
        print(
            f"note: {root}: no {split} shard of {', '.join(result.missing_configs)} "
            f"(not built); training on {', '.join(result.per_config)}",
            file=sys.stderr,
        )
    if not result.samples:
        where = ", ".join(str(p) for p in result.shards)
        raise InputError(f"empty training set: no usable rows in {where}")
    return result


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _dvc_lock_entries(lock: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    entries: list[dict[str, Any]] = []
    for stage in (data.get("stages") or {}).values():
        for key in ("deps", "outs"):
            entries.extend(e for e in stage.get(key) or [] if isinstance(e, dict) and "path" in e)
    return entries


def lineage(
    paths: Sequence[Path], dvc_lock: Path | None = Path("dvc.lock")
) -> list[dict[str, Any]]:
    """md5 of each input: dvc.lock's entry for it (or for a folder above it) when present,
    else the file's own md5."""
    lock = Path(dvc_lock) if dvc_lock is not None else None
    entries = _dvc_lock_entries(lock) if lock is not None and lock.is_file() else []
    base = lock.resolve().parent if lock is not None else Path.cwd()
    records = []
    for path in paths:
        resolved = Path(path).resolve()
        record: dict[str, Any] = {"path": str(path)}
        for entry in entries:
            target = (base / str(entry["path"])).resolve()
            if (resolved == target or target in resolved.parents) and entry.get("md5"):
                record.update(md5=entry["md5"], source="dvc.lock", dvc_path=entry["path"])
                break
        else:
            record.update(md5=md5_file(resolved) if resolved.is_file() else None, source="file")
        records.append(record)
    return records
