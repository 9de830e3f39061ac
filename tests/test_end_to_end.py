"""The whole pipeline, once, on the quick profile in a fresh clone (the suite's one slow test).

prepare-model -> raw-scripts -> profiles -> instructions -> rolegpt -> context-instruct ->
assemble -> validate -> train -> evaluate -> release, then a second repro that recomputes
nothing.
"""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from dataset_builder.rolebench_io import list_shards, read_shard
from tests.clone import commit, make_clone, quick_args, sh

STAGES = [
    "prepare-model",
    "raw-scripts",
    "profiles",
    "instructions",
    "rolegpt",
    "context-instruct",
    "assemble",
    "validate",
    "train",
    "evaluate",
    "release",
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, smollm2_dir):
    root = make_clone(tmp_path_factory.mktemp("e2e"), smollm2_dir)
    log = sh(["dvc", "exp", "run", *quick_args(root)], root, timeout=3600)
    return root, log


def test_every_stage_ran_and_the_gate_passed(pipeline):
    root, log = pipeline
    for stage in STAGES[1:]:
        assert f"Running stage '{stage}'" in log, stage
    report = json.loads((root / "reports" / "validation.json").read_text())
    assert report["success"] is True


def test_rolebench_loads_with_load_dataset(pipeline):
    root, _ = pipeline
    shards = list_shards(root / "data" / "rolebench")
    configs = {config for config, _ in shards}
    assert "eng_instruction_generalization_general" in configs
    assert "eng_role_generalization_general" in configs
    for config, split in shards:
        loaded = load_dataset(str(root / "data" / "rolebench"), config, split=split)
        assert loaded.num_rows == len(read_shard(root / "data" / "rolebench", config, split))
    test = read_shard(root / "data" / "rolebench", "eng_role_generalization_general", "test")
    assert set(test["role"]) == {"Prospero"}  # the held-out role, test only


def test_adapter_evaluation_and_release(pipeline):
    root, _ = pipeline
    assert (root / "models" / "rocit" / "adapter" / "adapter_config.json").is_file()
    summary = json.loads((root / "models" / "rocit" / "training_summary.json").read_text())
    assert summary["training"]["global_steps"] == 4
    metrics = json.loads((root / "metrics" / "eval.json").read_text())
    inst = metrics["instruction_generalization"]
    for system in ("rocit", "base", "rolegpt"):
        assert 0.0 <= inst[system]["CUS"] <= 1.0
    assert "Did RoCIT help" in (root / "reports" / "eval.md").read_text()
    assert (root / "release" / "dataset" / "README.md").is_file()
    assert (root / "release" / "model" / "adapter_config.json").is_file()


def test_second_repro_recomputes_nothing_and_pays_no_call(pipeline):
    root, _ = pipeline
    commit(root, "quick experiment")
    before = json.loads((root / "metrics" / "rolegpt.json").read_text())["engine"]
    again = sh(["dvc", "repro"], root)
    assert "Running stage" not in again
    assert "up to date" in sh(["dvc", "status"], root)
    forced = sh(["dvc", "repro", "-f", "-s", "rolegpt"], root)
    assert "Running stage 'rolegpt'" in forced
    after = json.loads((root / "metrics" / "rolegpt.json").read_text())["engine"]
    assert after["cache_misses"] == 0 and after["cache_hits"] == before["cache_misses"]
