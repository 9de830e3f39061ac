"""RoleBench folder writer/loader: exact Features, README configs, roster, atomic writes."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_dataset

from dataset_builder.rolebench_io import (
    list_shards,
    load_split,
    read_folder,
    read_shard,
    write_rolebench,
)
from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.errors import InputError
from rolellm.records import read_roster, role_slug


def _general(role: str, i: int) -> dict:
    return {
        "role": role,
        "question": f"Question {i}?",
        "generated": [f"Answer {i}.{k}" for k in range(5)],
        "reference": f"Reference {i}.",
        "kind": "general",
    }


def _specific(role: str, i: int, confidence: float | None = 0.9) -> dict:
    return {
        "role": role,
        "question": f"{role}, what about {i}?",
        "generated": [f"About {i}."],
        "type": "script_based",
        "confidence": confidence,
    }


SHARDS = {
    ("eng_instruction_generalization_general", "train"): [_general("Ada", i) for i in range(4)],
    ("eng_instruction_generalization_general", "test"): [_general("Ada", i) for i in range(4, 6)],
    ("zh_role_specific", "test"): [_specific("孙悟空", 1, None), _specific("孙悟空", 2)],
    ("zh_role_specific", "rolegpt_baseline"): [_specific("孙悟空", 1, None)],
}
ROLES = [{"name": "Ada", "lang": "en"}, {"name": "孙悟空", "lang": "zh", "note": "kept"}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("io") / "rolebench"
    counts = write_rolebench(out, SHARDS, ROLES)
    assert counts == {key: len(rows) for key, rows in SHARDS.items()}
    return out


def test_layout_and_card_list_only_present_shards(folder):
    assert list_shards(folder) == list(SHARDS)
    card = (folder / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    listed = {
        (c["config_name"], f["split"]): f["path"]
        for c in header["configs"]
        for f in c["data_files"]
    }
    assert listed == {key: CONFIGS_BY_NAME[key[0]].shard_path(key[1]) for key in SHARDS}


def test_parquet_carries_the_explicit_features(folder):
    for config, split in SHARDS:
        schema = pq.read_schema(folder / CONFIGS_BY_NAME[config].shard_path(split))
        expected = CONFIGS_BY_NAME[config].features.arrow_schema
        assert schema.remove_metadata() == expected.remove_metadata()
        assert b"huggingface" in schema.metadata


def test_load_dataset_works_for_every_config_and_split(folder, tmp_path):
    for (config, split), rows in SHARDS.items():
        ds = load_dataset(str(folder), config, split=split, cache_dir=str(tmp_path))
        assert ds.num_rows == len(rows)
        assert ds.features == CONFIGS_BY_NAME[config].features
    both = load_dataset(str(folder), "zh_role_specific", cache_dir=str(tmp_path))
    assert set(both) == {"test", "rolegpt_baseline"}
    assert both["test"][0]["confidence"] is None


def test_roster_is_filled_in(folder):
    roles = read_roster(folder)
    assert [r.slug for r in roles] == ["ada", role_slug("孙悟空")]
    assert [r.held_out for r in roles] == [False, False]
    assert roles[1].extra["note"] == "kept"


def test_readers_return_lists_and_features(folder):
    frame = read_shard(folder, "eng_instruction_generalization_general", "train")
    assert list(frame.columns) == list(
        CONFIGS_BY_NAME["eng_instruction_generalization_general"].features
    )
    assert frame["generated"][0] == [f"Answer 0.{k}" for k in range(5)]
    ds = load_split(folder, "zh_role_specific", "test")
    assert ds.features == CONFIGS_BY_NAME["zh_role_specific"].features
    assert ds.split == "test" and ds.num_rows == 2
    assert set(read_folder(folder)) == set(SHARDS)


def test_bad_rows_raise_and_leave_the_old_folder_intact(folder, tmp_path):
    out = tmp_path / "rb"
    write_rolebench(out, {("zh_role_specific", "test"): [_specific("孙悟空", 1)]}, ROLES[1:])
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    bad = dict(_specific("孙悟空", 2), type=["script_based"])
    with pytest.raises(InputError, match="zh_role_specific/test"):
        write_rolebench(out, {("zh_role_specific", "test"): [bad]}, ROLES[1:])
    with pytest.raises(InputError, match="unknown RoleBench config"):
        write_rolebench(out, {("nope", "test"): []}, ROLES)
    with pytest.raises(InputError, match="missing column"):
        write_rolebench(out, {("zh_general", "test"): SHARDS[("zh_role_specific", "test")]}, ROLES)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["rb"]


def test_a_bad_roster_entry_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="lang must be en or zh"):
        write_rolebench(tmp_path / "x", {}, [{"name": "A", "lang": "fr"}])
    with pytest.raises(InputError, match="share the slug"):
        write_rolebench(tmp_path / "x", {}, [{"name": "A"}, {"name": "a"}])
    assert not (tmp_path / "x").exists()
