"""The whole pipeline, once, on the quick profile in a fresh clone (the suite's one slow test).

prepare-model -> raw-scripts -> profiles -> instructions -> rolegpt -> context-instruct ->
rolegpt-specific -> assemble -> validate -> train -> evaluate -> release, then a second repro
that recomputes nothing, then the same version shared through a DVC local-folder remote and
pulled into a real `git clone`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

from dataset_builder.rolebench_io import list_shards, read_shard
from tests.clone import BIN, commit, make_clone, quick_args, sh

STAGES = [
    "prepare-model",
    "raw-scripts",
    "profiles",
    "instructions",
    "rolegpt",
    "context-instruct",
    "rolegpt-specific",
    "assemble",
    "validate",
    "train",
    "evaluate",
    "release",
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, smollm2_dir, gemma3_dir):
    root = make_clone(tmp_path_factory.mktemp("e2e"), smollm2_dir, gemma3_dir)
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


def test_the_chinese_role_goes_through_every_stage(pipeline):
    """quick.args has one Chinese role (小梅, from the team's play 灯笼铺): written by the
    embedded Gemma, assembled into zh_general, trained on and scored with jieba words."""
    root, _ = pipeline
    roster = {r["name"]: r for r in json.loads((root / "data/profiles/roles.json").read_text())}
    assert (roster["小梅"]["lang"], roster["小梅"]["slug"]) == ("zh", "小梅")
    assert (root / "data" / "profiles" / "小梅.jsonl").is_file()  # named for the role
    rows = [json.loads(line) for line in (root / "data/generated/rolegpt.jsonl").open()]
    answers = [text for row in rows if row["role"] == "小梅" for text in row["responses"]]
    assert answers and not any("\ufffd" in text for text in answers)
    cjk = [sum("\u4e00" <= ch <= "\u9fff" for ch in t) / max(len(t), 1) for t in answers]
    assert sum(share > 0.5 for share in cjk) >= 0.8 * len(answers), answers  # Chinese replies
    bench = root / "data" / "rolebench"
    assert set(read_shard(bench, "zh_general", "train")["role"]) == {"小梅"}
    assert len(read_shard(bench, "zh_general", "test")) >= 1
    summary = json.loads((root / "models" / "rocit" / "training_summary.json").read_text())
    data = summary["data"]
    assert "zh_general" in data["configs"] and data["samples_per_config"]["zh_general"] > 0
    built = {config for config, _ in list_shards(bench)}
    assert ("zh_role_specific" in built) == ("zh_role_specific" in data["configs"])
    assert ("zh_role_specific" in built) != ("zh_role_specific" in data["configs_not_built"])
    zh = json.loads((root / "metrics" / "eval.json").read_text())["zh"]
    assert 0.0 <= zh["rocit"]["CUS"] <= 1.0 and 0.0 <= zh["base"]["CUS"] <= 1.0
    card = (root / "release" / "model" / "README.md").read_text(encoding="utf-8")
    assert "zh_general" in card
    if "zh_role_specific" not in built:
        assert 'not built (no rows): ["zh_role_specific"]\n- steps:' in card


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


def _outputs(root: Path) -> dict[str, bool]:
    """Every out, metric and plot that dvc.yaml declares, mapped to whether DVC caches it."""
    declared = {}
    for stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path, opts = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
                declared[path] = (opts or {}).get("cache", True)
    return declared


def _digest(path: Path) -> dict[str, str]:
    """sha256 of every file under `path` (or of `path` itself), keyed by relative name."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _status(root: Path) -> dict:
    """`dvc status --json`, parsed from stdout alone (warnings go to stderr)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        ["dvc", "status", "--json"], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dvc_remote_push_then_pull_in_fresh_clone(pipeline, tmp_path_factory):
    root, _ = pipeline
    sh(["dvc", "repro"], root)  # up to date again after the forced rerun of another test
    remote = tmp_path_factory.mktemp("dvc-remote")
    sh(["dvc", "remote", "add", "-d", "shared", str(remote)], root)
    commit(root, "share the quick run")  # dvc.lock, .dvc/config, the quick params.yaml
    sh(["dvc", "push"], root)
    assert any(remote.rglob("*")), "dvc push sent nothing"

    fresh = tmp_path_factory.mktemp("fresh") / "rolellm"
    sh(["git", "clone", "-q", str(root), str(fresh)], fresh.parent)
    assert not (fresh / "data" / "rolebench").exists()  # only committed files arrived
    sh(["dvc", "pull"], fresh)

    declared = _outputs(fresh)
    cached = [path for path, is_cached in declared.items() if is_cached]
    uncached = [path for path, is_cached in declared.items() if not is_cached]
    for path in ["data/rolebench", "models/rocit/adapter", *cached]:
        assert (fresh / path).exists(), path
        assert _digest(fresh / path) == _digest(root / path), path
    assert (fresh / "models/rocit/adapter/adapter_config.json").is_file()
    assert list_shards(fresh / "data" / "rolebench") == list_shards(root / "data" / "rolebench")

    # Only the embedded models are not DVC-cached (`cache: false`: rebuilt from their pip
    # packages), so `dvc status` reports them alone as deleted (as outs and as deps).
    assert uncached == ["models/smollm2", "models/gemma3-270m"]
    assert not (fresh / "models/rocit/checkpoints").exists()
    reported = {}
    for changes in _status(fresh).values():
        for change in changes:
            assert isinstance(change, dict), change  # not "changed command"
            assert set(change) <= {"changed outs", "changed deps"}, change
            for group in change.values():
                reported.update(group)
    assert reported == {"models/smollm2": "deleted", "models/gemma3-270m": "deleted"}

    # `dvc repro` rebuilds those models byte-identically and runs nothing else: no LLM call
    # (the pulled reply caches are untouched), no training step, and then status is clean.
    pulled = {p: _digest(fresh / p) for p in cached}
    again = sh(["dvc", "repro"], fresh)
    ran = {line.split("'")[1] for line in again.splitlines() if line.startswith("Running stage")}
    assert ran == {"prepare-model"}, again
    assert {p: _digest(fresh / p) for p in cached} == pulled
    assert not (fresh / "models/rocit/checkpoints").exists()
    assert "Data and pipelines are up to date" in sh(["dvc", "status"], fresh)
