"""Readers of the `instructions` stage (dataset_builder.instruction_readers): every file
format, Hub ids and local dataset folders, column mapping, and one-line errors on bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataset_builder import instruction_readers as ins
from dataset_builder.instruction_readers import load_source
from dataset_builder.instructions import load_instructions
from dataset_builder.instructions_config import InstructionSource
from rolellm.errors import InputError
from tests.test_instructions import _one_line, _write_jsonl

# ----------------------------------------------------------------------------- loaders

MAPPED = {"instruction": "question", "answer": "response", "kind": "category", "id": "qid"}
RECORDS = [
    dict(zip(("qid", "question", "response", "category"), values, strict=True))
    for values in [
        ("q1", "Why is grass green?", "Chlorophyll.", "Knowledge"),
        ("q2", "Name a fruit.", "An apple.", "open-ended"),
        ("q3", "", "orphan answer", "knowledge"),
        ("q4", "No answer here?", "  ", ""),
        ("q5", "why is GRASS green", "Same again.", ""),
        ("q6", "Why do we sleep?", "To rest.", ""),
    ]
]


def _write_table(path: Path, records: list[dict]) -> Path:
    import pandas as pd

    frame = pd.DataFrame(records)
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    else:
        _write_jsonl(path, records)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".parquet"])
def test_loaders_apply_the_column_mapping(tmp_path, suffix):
    path = _write_table(tmp_path / f"mine{suffix}", RECORDS)
    source = InstructionSource(path=str(path), lang="en", columns=MAPPED, kind_default="knowledge")
    rows, stats = load_instructions([source])
    assert [(r.id, r.kind, r.instruction, r.answer) for r in rows] == [
        ("q1", "knowledge", "Why is grass green?", "Chlorophyll."),
        ("q2", "open_ended", "Name a fruit.", "An apple."),
        ("q6", "knowledge", "Why do we sleep?", "To rest."),
    ]
    (stat,) = stats
    assert (stat.rows, stat.kept, stat.dropped_empty, stat.dropped_duplicate) == (6, 3, 2, 1)
    assert stat.source == str(path)


def test_parquet_nulls_and_numbers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "n": [1, 2, 3],
            "prompt": ["What is two plus two?", None, "Say hi."],
            "output": ["Four.", "x", None],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    columns = {"instruction": "prompt", "answer": "output", "id": "n"}
    rows, dropped = load_source(InstructionSource(path=str(path), lang="en", columns=columns))
    assert [(r.id, r.instruction, r.kind) for r in rows] == [
        ("1", "What is two plus two?", "open_ended")
    ]
    assert dropped == 2


def test_missing_id_column_gives_stable_content_ids(tmp_path):
    path = _write_jsonl(
        tmp_path / "a.jsonl", [{"instruction": "Hello there?", "answer": "General Kenobi."}]
    )
    (row,), _ = load_source(InstructionSource(path=str(path), lang="zh"))
    assert re.fullmatch(r"zh-[0-9a-f]{12}", row.id)
    assert row.id == ins.generated_id("zh", "  hello, THERE ")


def test_hub_path_reads_a_local_dataset_folder(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    _write_jsonl(folder / "train.jsonl", [{"q": "Why is ice slippery?", "a": "Water film."}])
    _write_jsonl(folder / "test.jsonl", [{"q": "Why is the sea salty?", "a": "Minerals."}])
    source = InstructionSource(
        path=str(folder), split="test", lang="en", columns={"instruction": "q", "answer": "a"}
    )
    assert ins.source_format(source) == "hub"
    rows, _ = load_source(source, cache_dir=tmp_path / "hf-cache")
    assert [(r.instruction, r.answer) for r in rows] == [("Why is the sea salty?", "Minerals.")]
    with pytest.raises(InputError) as err:
        load_source(source.model_copy(update={"split": "dev"}), cache_dir=tmp_path / "hf-cache")
    message = _one_line(err)
    assert message.startswith(f"hub:{folder}[dev]: cannot load") and "dev" in message


def test_hub_id_goes_to_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return datasets.Dataset.from_list(
            [{"instruction": "What is rain?", "output": "Water falling from clouds."}]
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    source = InstructionSource(
        path="someone/general-instructions",
        subset="en",
        revision="v1",
        split="validation",
        lang="en",
        columns={"answer": "output"},
    )
    rows, _ = load_source(source)
    assert calls == [
        ("someone/general-instructions", {"split": "validation", "name": "en", "revision": "v1"})
    ]
    assert rows[0].answer == "Water falling from clouds."
    assert ins.source_label(source) == "hub:someone/general-instructions/en[validation]"


def test_hub_failure_is_one_input_error(monkeypatch):
    import datasets

    def broken(path, **kwargs):
        raise FileNotFoundError(f"Couldn't find a dataset script or data at\n{path}")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(InputError) as err:
        load_source(InstructionSource(path="nobody/nothing", lang="en"))
    assert _one_line(err).startswith("hub:nobody/nothing[train]: cannot load (FileNotFoundError")


# ----------------------------------------------------------------------------- bad input


def _error_for(source: InstructionSource) -> str:
    with pytest.raises(InputError) as err:
        load_instructions([source])
    return _one_line(err)


def test_mapping_to_a_missing_column_lists_the_available_ones(tmp_path):
    path = _write_table(tmp_path / "m.csv", RECORDS)
    source = InstructionSource(
        path=str(path), lang="en", columns={"instruction": "prompt", "answer": "response"}
    )
    message = _error_for(source)
    assert message.startswith(str(path))
    assert "columns.instruction names column 'prompt'" in message
    assert "'qid', 'question', 'response', 'category'" in message


def test_explicit_optional_column_must_exist(tmp_path):
    path = _write_table(tmp_path / "m.parquet", RECORDS)
    columns = {"instruction": "question", "answer": "response", "kind": "type"}
    message = _error_for(InstructionSource(path=str(path), lang="en", columns=columns))
    assert str(path) in message and "columns.kind names column 'type'" in message


def test_missing_required_column(tmp_path):
    path = _write_jsonl(tmp_path / "r.jsonl", [{"instruction": "Why?", "output": "Because."}])
    message = _error_for(InstructionSource(path=str(path), lang="en"))
    assert message.startswith(str(path))
    assert "required column 'answer' (answer) is missing" in message
    assert "'instruction', 'output'" in message


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.jsonl", ""), ("e2.jsonl", "\n\n"), ("e.csv", ""), ("h.csv", "instruction,answer\n")],
)
def test_empty_instruction_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    message = _error_for(InstructionSource(path=str(path), lang="en"))
    assert message == f"{path}: empty instruction file (no rows)"


def test_file_with_only_empty_rows(tmp_path):
    path = _write_jsonl(
        tmp_path / "blank.jsonl", [{"instruction": " ", "answer": "x"}, {"instruction": "y"}]
    )
    message = _error_for(InstructionSource(path=str(path), lang="en"))
    assert message == f"{path}: all 2 rows have an empty instruction or answer"


def test_broken_files(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"instruction": "a", "answer": "b"}\n{"instruction": \n', "utf-8")
    assert _error_for(InstructionSource(path=str(bad_json), lang="en")).startswith(
        f"{bad_json}: line 2: not valid JSON"
    )
    not_object = _write_jsonl(tmp_path / "list.jsonl", [["a", "b"]])
    assert "line 1: expected a JSON object" in _error_for(
        InstructionSource(path=str(not_object), lang="en")
    )
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("instruction,answer\ncaf\xe9?,oui\n".encode("latin-1"))
    assert _error_for(InstructionSource(path=str(latin1), lang="en")) == (
        f"{latin1}: not UTF-8 text"
    )
    parquet = tmp_path / "fake.parquet"
    parquet.write_text("not parquet", "utf-8")
    assert _error_for(InstructionSource(path=str(parquet), lang="en")).startswith(
        f"{parquet}: not a readable Parquet file"
    )
    nested = _write_jsonl(tmp_path / "nested.jsonl", [{"instruction": "Q?", "answer": ["a"]}])
    assert _error_for(InstructionSource(path=str(nested), lang="en")) == (
        f"{nested}: row 1: column 'answer' holds a list, expected text"
    )


def test_missing_file_and_unknown_type(tmp_path):
    missing = tmp_path / "nope.csv"
    assert _error_for(InstructionSource(path=str(missing), lang="en")) == (
        f"{missing}: instruction file not found"
    )
    odd = tmp_path / "notes.txt"
    odd.write_text("hello", "utf-8")
    message = _error_for(InstructionSource(path=str(odd), lang="en"))
    assert message.startswith(f"{odd}: unknown file type '.txt'")
