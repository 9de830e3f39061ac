"""Every folder the project writes for `load_dataset` loads the rows on disk, as a user sees it.

One datasets cache serves a whole test (the default cache a user has, not one per call), across
rebuilds in place, rebuilds that keep the row counts and change only text, and a second folder
of the same name loaded earlier. See docs/datasets_configs_cache.md for why this needs care.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cards.config import ReleaseConfig, ReleasePaths, VerifyError
from cards.release_dataset import build_dataset, verify_dataset
from dataset_builder.assemble import AssembleConfig, run_assemble
from dataset_builder.importer import import_release, release_file
from dataset_builder.instructions import build_instruction_pool
from dataset_builder.instructions_config import InstructionsConfig, InstructionSource
from dataset_builder.rolebench_io import list_shards, read_table, write_rolebench
from tests.test_assemble import _ci_rows, _inputs, _rolegpt_rows

GENERAL = "eng_instruction_generalization_general"
ROLES = [{"name": "Hamlet", "lang": "en"}, {"name": "Iago", "lang": "en"}]

Writer = Callable[[Path, str, int], None]  # (folder, text tag, rows per shard)


@pytest.fixture(autouse=True)
def shared_cache(tmp_path, monkeypatch) -> Path:
    """The default datasets cache, as a user has it: one folder for the whole test."""
    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    datasets.disable_progress_bars()
    return cache


def _arrow_files(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.arrow"))


def _assert_loads_disk(folder: Path) -> None:
    for config, split in list_shards(folder):
        loaded = datasets.load_dataset(str(folder), config, split=split)
        assert loaded.to_list() == read_table(folder, config, split).to_pylist()


# ----------------------------------------------------------------------------- writers


def _general(role: str, i: int, tag: str) -> dict:
    return {
        "role": role,
        "question": f"{role}, {tag} question {i}?",
        "generated": [f"{role} answers {i} ({tag})."],
        "reference": "",
        "kind": "open_ended",
    }


def write_io(folder: Path, tag: str, n: int) -> None:
    rows = [_general(r["name"], i, tag) for r in ROLES for i in range(n)]
    write_rolebench(folder, {(GENERAL, "train"): rows, (GENERAL, "test"): rows[:1]}, ROLES)


def write_assemble(folder: Path, tag: str, n: int) -> None:
    rolegpt = [
        row | {"responses": [f"{r} ({tag})" for r in row["responses"]]} for row in _rolegpt_rows()
    ]
    ci = [row | {"answer": f"{row['answer']} ({tag})"} for row in _ci_rows()[: n * 10]]
    work = folder.parent / f"{folder.name}-inputs-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    run_assemble(*_inputs(work, rolegpt, ci), folder, AssembleConfig(test_fraction=0.2))


def write_import(folder: Path, tag: str, n: int) -> None:
    release = folder.parent / f"{folder.name}-release-{tag}-{n}"
    path = release / release_file(GENERAL, "train")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"role": "Hamlet", "question": f"{tag} question {i}?", "generated": ["Ay."]}
        for i in range(n)
    ]
    lines = [json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)  # as in the issue: delete, then import again
    import_release(release, folder)


def write_release(folder: Path, tag: str, n: int) -> None:
    source = folder.parent / f"{folder.name}-source"
    write_io(source, tag, n)
    shutil.rmtree(folder, ignore_errors=True)
    paths = ReleasePaths(rolebench=source)
    build_dataset(ReleaseConfig(), paths, folder, provenance=[], validation={})


WRITERS = {"rolebench_io": write_io, "assemble": write_assemble, "import": write_import}
WRITERS["release"] = write_release


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(WRITERS))
def test_rebuilds_in_place_load_what_is_on_disk(tmp_path, name):
    write = WRITERS[name]
    folder = tmp_path / "a" / "rolebench"
    write(folder, "one", 3)
    _assert_loads_disk(folder)
    write(folder, "two", 3)  # same row counts, text of the same length
    _assert_loads_disk(folder)
    write(folder, "six", 1)  # fewer rows
    _assert_loads_disk(folder)


@pytest.mark.parametrize("name", ["rolebench_io", "import"])
def test_a_folder_of_the_same_name_loaded_earlier_does_not_leak(tmp_path, name):
    write = WRITERS[name]
    small, large = tmp_path / "small" / "rolebench", tmp_path / "large" / "rolebench"
    write(small, "small", 1)
    _assert_loads_disk(small)
    write(large, "large", 4)
    _assert_loads_disk(large)
    _assert_loads_disk(small)


def test_an_unchanged_folder_loads_from_the_cache(tmp_path, shared_cache):
    folder = tmp_path / "rolebench"
    write_io(folder, "same", 3)
    _assert_loads_disk(folder)
    cached = _arrow_files(shared_cache)
    assert cached
    _assert_loads_disk(folder)
    write_io(folder, "same", 3)  # a rebuild with identical content: the same card, same cache
    _assert_loads_disk(folder)
    assert _arrow_files(shared_cache) == cached
    write_io(folder, "other", 3)
    _assert_loads_disk(folder)
    assert len(_arrow_files(shared_cache)) > len(cached)


def test_release_check_refuses_a_shard_changed_after_its_card(tmp_path):
    folder = tmp_path / "release" / "dataset"
    write_release(folder, "one", 3)
    assert verify_dataset(folder)
    shard = folder / "data" / GENERAL / "train.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)
    with pytest.raises(VerifyError, match="configs do not match the shards"):
        verify_dataset(folder)


# ----------------------------------------------------------------------------- readers


def _instruction_folder(folder: Path, tag: str) -> None:
    """A dataset folder a user keeps by hand: parquet plus a `configs:` card (no fingerprint)."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    rows = [{"instruction": f"{tag} instruction {i}?", "answer": f"Answer {i}."} for i in range(8)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train.parquet")
    card = "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n"
    (folder / "README.md").write_text(card + "    path: data/train.parquet\n---\n")


def test_instruction_stage_reads_an_edited_folder_afresh(tmp_path):
    folder, out = tmp_path / "instructions", tmp_path / "pool.jsonl"
    source = InstructionSource(path=str(folder), subset="main", lang="en")
    cfg = InstructionsConfig(sources=[source], n_en=8)
    for tag in ("before", "after"):
        _instruction_folder(folder, tag)
        build_instruction_pool(cfg, out)
        pool = [json.loads(line)["instruction"] for line in out.read_text().splitlines()]
        assert len(pool) == 8 and all(text.startswith(f"{tag} ") for text in pool)
