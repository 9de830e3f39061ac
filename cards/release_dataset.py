"""The dataset part of a release: RoleBench shards, roles.json and the dataset card copied
into release/dataset, and the check that `datasets.load_dataset` reads it back (rows and
Features equal to the shards, card configs carrying the shards' content hashes).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cards.config import ReleaseConfig, ReleasePaths, VerifyError
from rolellm.errors import InputError
from rolellm.records import read_roster


def build_dataset(
    cfg: ReleaseConfig,
    paths: ReleasePaths,
    target: Path,
    provenance: Sequence[Mapping[str, Any]],
    validation: Mapping[str, Any],
) -> None:
    from cards.render import render_dataset_card
    from dataset_builder.rolebench_io import ROLES_FILE, list_shards, spec_for

    source = paths.rolebench
    if not source.is_dir():
        raise InputError(f"{source}: RoleBench folder not found (run the pipeline first)")
    shards = list_shards(source)
    if not shards:
        raise InputError(f"{source}: no shards (data/<config>/<split>.parquet) to release")
    roles = read_roster(source)
    target.mkdir(parents=True)
    for config, split in shards:
        rel = spec_for(config).shard_path(split)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)
    shutil.copyfile(source / ROLES_FILE, target / ROLES_FILE)
    card = render_dataset_card(cfg, target, roles, validation, provenance)
    (target / "README.md").write_text(card, encoding="utf-8")


def check_card_configs(folder: Path) -> None:
    """The card's `configs:` must name the shards present with their content hashes: users'
    shared datasets cache is keyed on them (docs/datasets_configs_cache.md)."""
    from dataset_builder.rolebench_io import CARD_FILE, configs_metadata, list_shards

    text = (folder / CARD_FILE).read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    card = front.get("configs") if isinstance(front, dict) else None
    if card != configs_metadata(folder, list_shards(folder)):
        raise VerifyError(f"{folder}: README.md configs do not match the shards on disk")


def verify_dataset(folder: Path) -> list[str]:
    """Load every config/split with `datasets.load_dataset`; rows and Features must match."""
    import datasets
    import pyarrow.parquet as pq

    from dataset_builder.rolebench_io import list_shards, spec_for

    check_card_configs(folder)
    checked = []
    progress = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="rolellm-verify-") as cache:
            for config, split in list_shards(folder):
                spec = spec_for(config)
                expected = pq.ParquetFile(folder / spec.shard_path(split)).metadata.num_rows
                try:
                    loaded = datasets.load_dataset(
                        str(folder), config, split=split, cache_dir=cache
                    )
                except Exception as err:  # noqa: BLE001 (any failure is the finding)
                    message = str(err).splitlines()[0] if str(err) else type(err).__name__
                    raise VerifyError(
                        f"{folder}: load_dataset({config!r}, split={split!r}) failed: {message}"
                    ) from None
                if loaded.num_rows != expected:
                    raise VerifyError(
                        f"{folder}: {config}/{split}: load_dataset gave {loaded.num_rows} rows, "
                        f"the shard has {expected}"
                    )
                if loaded.features != spec.features:
                    raise VerifyError(f"{folder}: {config}/{split}: Features differ from schema.py")
                checked.append(f"{config}/{split}")
    finally:
        if progress:
            datasets.enable_progress_bars()
    return checked
