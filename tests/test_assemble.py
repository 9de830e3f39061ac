"""Assembly: config splits, held-out roles, leakage check, load_dataset on every shard."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from dataset_builder.assemble import LeakageError, check_leakage, run_assemble, specific_rows
from dataset_builder.assemble_config import AssembleConfig
from rolellm.atomic import write_jsonl
from rolellm.errors import InputError, RolellmError
from rolellm.records import Role

ROSTER = [
    {"name": "HAMLET", "slug": "hamlet", "lang": "en", "held_out": False},
    {"name": "OPHELIA", "slug": "ophelia", "lang": "en", "held_out": False},
    {"name": "YORICK", "slug": "yorick", "lang": "en", "held_out": True},
    {"name": "孙悟空", "slug": "role-wukong", "lang": "zh", "held_out": False},
]
EN_POOL = [
    (f"en-{i}", f"Tell me about topic number {i} please.", "train" if i < 4 else "test")
    for i in range(6)
]
ZH_POOL = [(f"zh-{i}", f"请介绍第{i}个话题。", "train" if i < 2 else "test") for i in range(3)]


def _rolegpt_rows() -> list[dict]:
    rows = []
    for role in ROSTER:
        pool = ZH_POOL if role["lang"] == "zh" else EN_POOL
        for iid, question, split in pool:
            responses = [f"{role['name']} answer {k} to {iid} in my own voice." for k in range(6)]
            if role["lang"] == "zh":
                responses = [f"俺老孙第{k}次回答{iid}。" for k in range(6)]
            rows.append(
                {
                    "role": role["name"],
                    "instruction_id": iid,
                    "question": question,
                    "reference": "A plain answer.",
                    "kind": "qa",
                    "split": split,
                    "responses": responses,
                    "demonstrations": 3,
                }
            )
    return rows


def _ci_rows() -> list[dict]:
    rows = []
    for role in ROSTER:
        for i in range(10):
            zh = role["lang"] == "zh"
            question = (
                f"第{i}场发生了什么？" if zh else f"What happened in scene {i}, {role['name']}?"
            )
            rows.append(
                {
                    "role": role["name"],
                    "question": question,
                    "answer": f"第{i}场打了妖怪。" if zh else f"Scene {i} happened.",
                    "type": "script_based" if i % 2 else "script_agnostic",
                    "confidence": 0.9,
                    "segment": i,
                }
            )
    return rows


def _inputs(tmp_path: Path, rolegpt=None, ci=None) -> tuple[Path, Path, Path]:
    write_jsonl(tmp_path / "rolegpt.jsonl", rolegpt if rolegpt is not None else _rolegpt_rows())
    write_jsonl(tmp_path / "ci.jsonl", ci if ci is not None else _ci_rows())
    (tmp_path / "roles.json").write_text(json.dumps(ROSTER, ensure_ascii=False))
    return tmp_path / "rolegpt.jsonl", tmp_path / "ci.jsonl", tmp_path / "roles.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("assemble")
    metrics = run_assemble(*_inputs(tmp), tmp / "rolebench", AssembleConfig(test_fraction=0.2))
    return tmp / "rolebench", metrics


def _load(folder: Path, config: str, split: str) -> datasets.Dataset:
    return datasets.load_dataset(str(folder), config, split=split)


def test_row_counts_per_config_and_split(built):
    _, metrics = built
    assert metrics["rows"] == {
        "eng_instruction_generalization_general/train": 8,  # 2 roles x 4 train instructions
        "eng_instruction_generalization_general/test": 4,
        "eng_instruction_generalization_general/rolegpt_baseline": 4,
        "eng_instruction_generalization_role_specific/train": 16,  # 2 roles x 8
        "eng_instruction_generalization_role_specific/test": 4,
        "eng_role_generalization_general/train": 8,
        "eng_role_generalization_general/test": 2,  # YORICK x 2 test instructions
        "eng_role_generalization_general/rolegpt_baseline": 2,
        "eng_role_generalization_role_specific/train": 16,
        "eng_role_generalization_role_specific/test": 10,  # every YORICK item
        "zh_general/train": 2,
        "zh_general/test": 1,
        "zh_general/rolegpt_baseline": 1,
        "zh_role_specific/train": 8,
        "zh_role_specific/test": 2,
    }
    assert metrics["skipped"] == [] and metrics["dropped_duplicates"] == {}


def test_every_shard_loads_with_load_dataset(built):
    folder, metrics = built
    for key, rows in metrics["rows"].items():
        config, split = key.split("/")
        assert _load(folder, config, split).num_rows == rows


def test_held_out_roles_only_in_role_generalisation_test(built):
    folder, _ = built
    for config in ("eng_instruction_generalization_general", "eng_role_generalization_general"):
        assert "YORICK" not in set(_load(folder, config, "train")["role"])
    assert set(_load(folder, "eng_role_generalization_general", "test")["role"]) == {"YORICK"}
    assert set(_load(folder, "eng_role_generalization_role_specific", "test")["role"]) == {"YORICK"}
    assert "YORICK" not in set(
        _load(folder, "eng_instruction_generalization_general", "test")["role"]
    )


def test_test_instructions_unseen_in_train_and_five_plus_one_answers(built):
    folder, _ = built
    train = _load(folder, "eng_instruction_generalization_general", "train")
    test = _load(folder, "eng_instruction_generalization_general", "test")
    assert not set(train["question"]) & set(test["question"])
    assert all(len(g) == 5 for g in test["generated"])
    baseline = _load(folder, "eng_instruction_generalization_general", "rolegpt_baseline")
    assert baseline["question"] == test["question"] and baseline["role"] == test["role"]
    assert all(len(g) == 1 and " answer 5 " in g[0] for g in baseline["generated"])
    assert test[0]["reference"] == "A plain answer." and test[0]["kind"] == "qa"
    specific = _load(folder, "eng_instruction_generalization_role_specific", "test")
    assert set(specific["type"]) <= {"script_based", "script_agnostic"}
    assert specific[0]["confidence"] == 0.9


def test_role_specific_split_is_deterministic_per_role(tmp_path):
    cfg = AssembleConfig(test_fraction=0.3)
    first = [r["_split"] for r in specific_rows(_ci_rows(), cfg)]
    assert first == [r["_split"] for r in specific_rows(_ci_rows(), cfg)]
    hamlet = [r for r in specific_rows(_ci_rows(), cfg) if r["role"] == "HAMLET"]
    assert sum(r["_split"] == "test" for r in hamlet) == 3
    other = [
        r["_split"] for r in specific_rows(_ci_rows(), AssembleConfig(test_fraction=0.3, seed=1))
    ]
    assert other != first


def test_leakage_check_fails_on_injected_leaks():
    roster = [Role.from_entry(entry) for entry in ROSTER]
    row = {"role": "HAMLET", "question": "What is love?"}
    shards = {
        ("eng_instruction_generalization_general", "train"): [row],
        ("eng_instruction_generalization_general", "test"): [
            {"role": "OPHELIA", "question": "  what is LOVE? "}
        ],
    }
    with pytest.raises(LeakageError, match="1 test question.*also in train"):
        check_leakage(shards, roster)
    specific = {
        ("eng_instruction_generalization_role_specific", "train"): [row],
        ("eng_instruction_generalization_role_specific", "test"): [{**row, "role": "OPHELIA"}],
    }
    check_leakage(specific, roster)  # role-specific: another role may ask the same
    specific[("eng_instruction_generalization_role_specific", "test")].append(row)
    with pytest.raises(RolellmError, match="role_specific: 1 test question"):
        check_leakage(specific, roster)
    held = {("eng_role_generalization_general", "train"): [{**row, "role": "YORICK"}]}
    with pytest.raises(LeakageError, match="held-out role.*YORICK"):
        check_leakage(held, roster)


def test_duplicates_and_pool_overlap_are_dropped_before_the_check(tmp_path):
    rows = _rolegpt_rows()
    leaked = {**rows[0], "instruction_id": "dup", "split": "test"}  # a train question in test
    twice = {**rows[1]}
    metrics = run_assemble(
        *_inputs(tmp_path, rolegpt=rows + [leaked, twice]), tmp_path / "rb", AssembleConfig()
    )
    assert metrics["dropped_duplicates"] == {
        "eng_instruction_generalization_general": 2,
        "eng_role_generalization_general": 1,
    }
    assert metrics["rows"]["eng_instruction_generalization_general/test"] == 4


def test_a_language_without_role_specific_items_still_gets_its_general_config(tmp_path):
    ci = [r for r in _ci_rows() if r["role"] != "孙悟空"]  # Context-Instruct kept no zh item
    metrics = run_assemble(*_inputs(tmp_path, ci=ci), tmp_path / "rb", AssembleConfig())
    assert metrics["not_built"] == metrics["skipped"] == ["zh_role_specific"]
    assert metrics["rows"]["zh_general/train"] == 2 and metrics["rows"]["zh_general/test"] == 1
    english_only = [r for r in _rolegpt_rows() if r["role"] != "孙悟空"]
    roster = [r for r in ROSTER if r["lang"] == "en"]
    (tmp_path / "en").mkdir()
    paths = _inputs(tmp_path / "en", english_only, ci)
    paths[2].write_text(json.dumps(roster), encoding="utf-8")
    quiet = run_assemble(*paths, tmp_path / "rb-en", AssembleConfig())
    assert "zh_general" in quiet["skipped"] and quiet["not_built"] == []  # no zh role: no note


def test_missing_held_out_roles_skip_role_generalisation(tmp_path):
    rows = [r for r in _rolegpt_rows() if r["role"] != "YORICK"]
    ci = [r for r in _ci_rows() if r["role"] != "YORICK"]
    metrics = run_assemble(*_inputs(tmp_path, rows, ci), tmp_path / "rb", AssembleConfig())
    assert metrics["skipped"] == [
        "eng_role_generalization_general",
        "eng_role_generalization_role_specific",
    ]
    assert metrics["not_built"] == metrics["skipped"]  # English roles exist: reported
    with pytest.raises(InputError, match="not in the roster"):
        run_assemble(
            *_inputs(tmp_path, [{**rows[0], "role": "NOBODY"}], ci),
            tmp_path / "x",
            AssembleConfig(),
        )
