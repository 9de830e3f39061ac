"""Write and read RoleBench folders (the layout of `dataset_builder.schema`).

A folder holds `data/<config>/<split>.parquet` cast to the config's explicit Features,
`roles.json` (the roster: [{name, slug, lang, held_out, ...}]) and a README.md whose YAML
`configs:` block lists exactly the shards present, so that
`datasets.load_dataset(folder, config, split=split)` works for each of them. Each entry's
`description` carries the sha256 of that config's shard files: datasets keys its cache of a
local folder on the `configs:` block, not on the files (docs/datasets_configs_cache.md), so
without it a rebuilt folder would load the previous build's rows.

Shard columns (see schema.py):
    general:        role, question, generated (list of str), reference, kind
    role_specific:  role, question, generated (list of str), type, confidence (float or null)
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dataset_builder.schema import CONFIGS, CONFIGS_BY_NAME, SPLITS, ConfigSpec
from rolellm.atomic import atomic_path
from rolellm.errors import InputError
from rolellm.records import ROLES_FILE, Role, write_roster

ShardKey = tuple[str, str]  # (config, split)
ShardRows = pd.DataFrame | pa.Table | Sequence[Mapping[str, Any]]

CARD_FILE = "README.md"


def spec_for(config: str) -> ConfigSpec:
    try:
        return CONFIGS_BY_NAME[config]
    except KeyError:
        known = ", ".join(CONFIGS_BY_NAME)
        raise InputError(f"unknown RoleBench config {config!r} (known: {known})") from None


def _check_key(key: ShardKey) -> ConfigSpec:
    config, split = key
    if split not in SPLITS:
        raise InputError(f"{config}: unknown split {split!r} (known: {', '.join(SPLITS)})")
    return spec_for(config)


def to_table(rows: ShardRows, spec: ConfigSpec, where: str) -> pa.Table:
    """Cast rows (DataFrame, Arrow table or dicts) to the config's explicit Features."""
    schema = spec.features.arrow_schema
    if isinstance(rows, pa.Table):
        frame = rows.to_pandas()
    elif isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        rows = list(rows)
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(spec.features))
    missing = [name for name in spec.features if name not in frame.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(missing)}")
    try:
        table = pa.Table.from_pandas(
            frame[list(spec.features)], schema=schema, preserve_index=False
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(f"{where}: rows do not fit the {spec.kind} schema: {err}") from None
    return table.replace_schema_metadata(schema.metadata)  # Features only, no pandas metadata


def content_digest(folder: str | Path, spec: ConfigSpec, splits: Sequence[str]) -> str:
    """sha256 over one config's shard files (split name and bytes, in `splits` order)."""
    digest = hashlib.sha256()
    for split in splits:
        digest.update(f"{split}\0".encode())
        with open(Path(folder) / spec.shard_path(split), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def configs_metadata(folder: str | Path, keys: Collection[ShardKey]) -> list[dict[str, Any]]:
    """The card's `configs:` block for the shards `keys` of `folder` (files must exist)."""
    configs = []
    for spec in CONFIGS:
        splits = [split for split in SPLITS if (spec.name, split) in keys]
        if not splits:
            continue
        files = [{"split": split, "path": spec.shard_path(split)} for split in splits]
        digest = content_digest(folder, spec, splits)
        # `description` is a BuilderConfig field, so it enters datasets' cache key.
        description = f"{spec.name}, content sha256 {digest}"
        configs.append({"config_name": spec.name, "data_files": files, "description": description})
    return configs


def card_text(
    configs: Sequence[Mapping[str, Any]], counts: Mapping[ShardKey, int], body: str | None = None
) -> str:
    """README.md: YAML `configs:` (see configs_metadata) and a row-count table."""
    header = yaml.safe_dump({"configs": list(configs)}, sort_keys=False, allow_unicode=True)
    lines = ["| config | split | rows |", "|---|---|---|"]
    lines += [f"| {config} | {split} | {n:,} |" for (config, split), n in sorted(counts.items())]
    text = body or "# RoleBench\n\nRole-playing benchmark in the layout of the rolellm toolkit."
    return f"---\n{header}---\n\n{text.rstrip()}\n\n" + "\n".join(lines) + "\n"


def write_rolebench(
    folder: str | Path,
    shards: Mapping[ShardKey, ShardRows],
    roles: Iterable[Role | Mapping[str, Any]],
    card_body: str | None = None,
) -> dict[ShardKey, int]:
    """Write a complete RoleBench folder atomically; returns rows per (config, split).

    `roles` are Role records or roster entries (rolellm.records.Role.from_entry fills in a
    missing slug and held_out; other keys are kept).
    """
    tables = {
        key: to_table(rows, _check_key(key), f"{key[0]}/{key[1]}") for key, rows in shards.items()
    }
    counts = {key: table.num_rows for key, table in tables.items()}
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        for (config, split), table in tables.items():
            path = tmp / CONFIGS_BY_NAME[config].shard_path(split)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd")
        write_roster(tmp / ROLES_FILE, roles)
        card = card_text(configs_metadata(tmp, counts), counts, card_body)
        (tmp / CARD_FILE).write_text(card, encoding="utf-8")
    return counts


def list_shards(folder: str | Path) -> list[ShardKey]:
    """(config, split) of every shard file present, in schema order."""
    root = Path(folder)
    return [
        (spec.name, split)
        for spec in CONFIGS
        for split in SPLITS
        if (root / spec.shard_path(split)).is_file()
    ]


def read_table(folder: str | Path, config: str, split: str) -> pa.Table:
    path = Path(folder) / spec_for(config).shard_path(split)
    if not path.is_file():
        raise InputError(f"{path}: shard not found")
    return pq.read_table(path)


def read_shard(folder: str | Path, config: str, split: str) -> pd.DataFrame:
    """One shard as pandas; `generated` holds Python lists (not numpy arrays)."""
    table = read_table(folder, config, split)
    frame = table.drop_columns(["generated"]) if "generated" in table.column_names else table
    df = frame.to_pandas(ignore_metadata=True)
    if "generated" in table.column_names:
        position = table.column_names.index("generated")
        df.insert(position, "generated", table.column("generated").to_pylist())
    return df


def load_split(folder: str | Path, config: str, split: str):
    """One shard as an in-memory `datasets.Dataset` with the config's explicit Features."""
    from datasets import Dataset, DatasetInfo, NamedSplit
    from datasets.table import InMemoryTable

    spec = spec_for(config)
    table = read_table(folder, config, split).cast(spec.features.arrow_schema)
    info = DatasetInfo(features=spec.features)
    return Dataset(InMemoryTable(table), info=info, split=NamedSplit(split))


def read_folder(folder: str | Path) -> dict[ShardKey, pd.DataFrame]:
    return {key: read_shard(folder, *key) for key in list_shards(folder)}
