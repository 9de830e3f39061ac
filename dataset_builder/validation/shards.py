"""The shards a gate run checks: a RoleBench folder, or a raw release checked as it is.

A RoleBench folder gives `data/<config>/<split>.parquet` and roles.json. A release folder
(rolebench-eng/, rolebench-zh/) gives its jsonl files unchanged (so `type` stays a list
where the release has one) and a roster built from the roles seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dataset_builder.importer import (
    ImportReport,
    is_release,
    read_release,
    release_file,
    roster_from_shards,
)
from dataset_builder.rolebench_io import list_shards, read_shard, spec_for
from dataset_builder.schema import ConfigSpec
from rolellm.errors import InputError
from rolellm.records import Role, read_roster


@dataclass
class Shard:
    """One (config, split) frame; `source` is the file it came from, relative to the folder."""

    config: str
    split: str
    frame: pd.DataFrame
    source: str

    @property
    def spec(self) -> ConfigSpec:
        return spec_for(self.config)

    @property
    def name(self) -> str:
        return f"{self.config}/{self.split}"

    @property
    def asset_name(self) -> str:
        """GX names may not contain "/" (they become Data Docs file names)."""
        return f"{self.config}.{self.split}"


@dataclass
class ShardSet:
    shards: list[Shard]
    roster: list[Role]
    release: bool
    notes: list[str] = field(default_factory=list)

    def find(self, config: str, split: str) -> Shard | None:
        return next((s for s in self.shards if (s.config, s.split) == (config, split)), None)

    def roster_names(self, lang: str) -> list[str]:
        return [role.name for role in self.roster if role.lang == lang]

    def held_out(self) -> set[str]:
        return {role.name for role in self.roster if role.held_out}


def load_shards(folder: str | Path) -> ShardSet:
    """Every shard of a RoleBench folder or of a raw release folder."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found")
    if is_release(root):
        return _release_shards(root)
    keys = list_shards(root)
    if not keys:
        raise InputError(f"{root}: no shards (expected data/<config>/<split>.parquet)")
    shards = [
        Shard(config, split, read_shard(root, config, split), spec_for(config).shard_path(split))
        for config, split in keys
    ]
    return ShardSet(shards, read_roster(root), release=False)


def _release_shards(root: Path) -> ShardSet:
    raw = read_release(root)
    shards = [
        Shard(config, split, pd.DataFrame(rows), release_file(config, split))
        for (config, split), rows in raw.items()
    ]
    roster = roster_from_shards(raw, ImportReport())
    return ShardSet(shards, roster, release=True, notes=type_notes(shards))


def type_notes(shards: list[Shard]) -> list[str]:
    """One line per config whose files disagree on the Python type of `type`."""
    kinds: dict[str, dict[str, str]] = {}
    for shard in shards:
        if "type" in shard.frame.columns and len(shard.frame):
            seen = sorted({type(v).__name__ for v in shard.frame["type"]})
            kinds.setdefault(shard.config, {})[shard.source] = "/".join(seen)
    notes = []
    for config, by_file in kinds.items():
        if len(set(by_file.values())) > 1:
            parts = ", ".join(f"{kind} in {source}" for source, kind in by_file.items())
            notes.append(f"schema fault: `type` is {parts} ({config}: a combined load fails)")
    return notes


def load_profiles(folder: str | Path | None, roster: list[Role]) -> dict[str, list[str]]:
    """Profile lines per role name from `<folder>/<slug>.jsonl` rows {act_id, diag_id, role,
    content}; roles without a file get none."""
    if folder is None:
        return {}
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: profiles folder not found")
    profiles = {}
    for role in roster:
        path = root / f"{role.slug}.jsonl"
        if path.is_file():
            profiles[role.name] = _profile_lines(path)
    return profiles


def _profile_lines(path: Path) -> list[str]:
    lines = []
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                content = json.loads(text).get("content")
            except (ValueError, AttributeError):
                raise InputError(f"{path}:{number}: not a JSON object") from None
            if isinstance(content, str) and content.strip():
                lines.append(content)
    return lines
