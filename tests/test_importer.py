"""Importer of the original release: schema repairs, baseline matching, roster, row counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from datasets import load_dataset

from dataset_builder.importer import RELEASE_DIRS, import_release, is_release, release_file
from dataset_builder.rolebench_io import list_shards, read_shard
from rolellm.cli import main
from rolellm.errors import InputError
from rolellm.records import read_roster

# The reference slice's files and line counts (../shared/reference/README.md).
REFERENCE_ROWS = {
    ("eng_instruction_generalization_role_specific", "test"): 4750,
    ("eng_instruction_generalization_role_specific", "rolegpt_baseline"): 4750,
    ("zh_general", "train"): 5933,
    ("zh_general", "test"): 1451,
    ("zh_general", "rolegpt_baseline"): 7395,
    ("zh_role_specific", "train"): 1535,
    ("zh_role_specific", "test"): 239,
    ("zh_role_specific", "rolegpt_baseline"): 239,
}


def _write(root: Path, config: str, split: str, rows: list[dict]) -> None:
    path = root / release_file(config, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def _row(role: str, question: str, answers: list[str], kind=None) -> dict:
    row = {"role": role, "question": question, "generated": answers}
    return row if kind is None else row | {"type": kind}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A tiny release with every defect: list vs string `type`, spaces, unmatched baseline."""
    root = tmp_path_factory.mktemp("release")
    rs = "eng_role_generalization_role_specific"
    _write(root, rs, "train", [_row("Ada", "Ada, who are you?", ["Ada."], "script_agnostic")])
    _write(
        root,
        rs,
        "test",
        [
            _row("Cleo", " Cleo, why? ", ["Because."], ["script_based"]),
            _row("Cleo", "Cleo, how?", ["So.", "Thus."], ["script_agnostic", "script_based"]),
        ],
    )
    _write(
        root,
        rs,
        "rolegpt_baseline",
        [_row("Cleo", "Cleo, why?", ["Why not."]), _row("Cleo", "Cleo, where?", ["Here."])],
    )
    _write(root, "zh_general", "test", [_row("李白", "写一首诗。 ", ["床前明月光。"] * 5)])
    return root


def test_import_repairs_the_release(release, tmp_path):
    out = tmp_path / "rb"
    report = import_release(release, out)
    assert report.rows == {
        "eng_role_generalization_role_specific": {"train": 1, "test": 2, "rolegpt_baseline": 2},
        "zh_general": {"test": 1},
    }
    assert (report.stripped_questions, report.type_lists, report.mixed_type_lists) == (2, 2, 1)
    assert report.baseline_unmatched == {"eng_role_generalization_role_specific": 1}
    assert report.held_out == ["Cleo"]
    assert len(report.missing) == 18 - 4
    test = read_shard(out, "eng_role_generalization_role_specific", "test")
    assert test["type"].tolist() == ["script_based", "script_agnostic"]
    assert test["question"].tolist() == ["Cleo, why?", "Cleo, how?"]
    assert test["confidence"].isna().all()
    baseline = read_shard(out, "eng_role_generalization_role_specific", "rolegpt_baseline")
    assert baseline["type"].iloc[0] == "script_based" and pd.isna(baseline["type"].iloc[1])
    general = read_shard(out, "zh_general", "test")
    assert general[["question", "reference", "kind"]].iloc[0].tolist() == [
        "写一首诗。",
        "",
        "unknown",
    ]
    roles = {r.name: (r.lang, r.held_out) for r in read_roster(out)}
    assert roles == {"Ada": ("en", False), "Cleo": ("en", True), "李白": ("zh", False)}
    assert any("match no test/train question" in line for line in report.lines())


def test_not_a_release(tmp_path):
    assert not is_release(tmp_path)
    (tmp_path / "rolebench-zh").mkdir()
    with pytest.raises(InputError, match="no RoleBench release files"):
        import_release(tmp_path, tmp_path / "out")


def test_cli_import(release, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cli"
    monkeypatch.setattr(
        "sys.argv", ["rolellm", "import-rolebench", str(release), "--out", str(out)]
    )
    main()
    assert "imported 6 rows" in capsys.readouterr().out
    assert len(list_shards(out)) == 4


def test_reference_slice_loads_with_exact_counts(reference_dir, tmp_path):
    out = tmp_path / "rb"
    report = import_release(reference_dir, out)
    for (config, split), expected in REFERENCE_ROWS.items():
        path = reference_dir / release_file(config, split)
        with path.open(encoding="utf-8") as fh:
            assert sum(1 for line in fh if line.strip()) == expected
        assert report.rows[config][split] == expected
    assert set(list_shards(out)) == set(REFERENCE_ROWS)
    cache = str(tmp_path / "cache")
    for config in {config for config, _ in REFERENCE_ROWS}:
        splits = {split: n for (c, split), n in REFERENCE_ROWS.items() if c == config}
        for split, expected in splits.items():
            assert load_dataset(str(out), config, split=split, cache_dir=cache).num_rows == expected
        combined = load_dataset(str(out), config, cache_dir=cache)  # fails on the release
        assert {split: combined[split].num_rows for split in combined} == splits
    assert report.type_lists == 4750 + 239
    assert set(RELEASE_DIRS) >= set(report.rows)
