"""Stage `instructions`: seed files, loaders, column mapping, sampling, train/test split."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataset_builder import instructions as ins
from dataset_builder.instructions import (
    KINDS,
    SEED_DIR,
    Instruction,
    build_instruction_pool,
    load_instructions,
    load_source,
    normalise_text,
    sample_instructions,
    select_pool,
    split_train_test,
)
from dataset_builder.instructions_config import (
    InstructionsConfig,
    InstructionSource,
    default_sources,
)
from rolellm.errors import ConfigError, InputError

SEED_FIELDS = {"id", "lang", "kind", "instruction", "answer"}
POOL_FIELDS = SEED_FIELDS | {"split"}
_CJK = re.compile(r"[\u3400-\u9fff]")


def _seed_rows(lang: str) -> list[dict]:
    path = SEED_DIR / f"instructions_{lang}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def _synthetic(n_per_kind: dict[str, int], lang: str = "en") -> list[Instruction]:
    rows = []
    for kind, count in n_per_kind.items():
        for i in range(count):
            rows.append(Instruction(f"{lang}-{kind}-{i:03d}", lang, kind, f"{kind} q{i}?", "a"))
    return rows


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and message.strip() == message
    return message


# ----------------------------------------------------------------------------- seed files


@pytest.mark.parametrize(("lang", "minimum"), [("en", 300), ("zh", 100)])
def test_seed_file_size_and_kind_balance(lang, minimum):
    rows = _seed_rows(lang)
    assert len(rows) >= minimum
    kinds = Counter(row["kind"] for row in rows)
    assert set(kinds) == set(KINDS)
    for kind in KINDS:  # roughly balanced: each kind holds 25-42 % of the file
        assert 0.25 <= kinds[kind] / len(rows) <= 0.42, kinds


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_seed_rows_are_valid(lang):
    rows = _seed_rows(lang)
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    for row in rows:
        assert set(row) == SEED_FIELDS, row
        assert re.fullmatch(rf"{lang}-\d{{4}}", row["id"]), row
        assert row["lang"] == lang and row["kind"] in KINDS
        for field in ("instruction", "answer"):
            text = row[field]
            assert isinstance(text, str) and text == text.strip() and "  " not in text, row
            assert "\n" not in text and "||" not in text, row
        assert row["instruction"][-1] in ".?？。", row
        assert row["answer"][-1] in ".!?。！？", row
        if lang == "en":
            assert 12 <= len(row["answer"].split()) <= 70, row
            assert 3 <= len(row["instruction"].split()) <= 30, row
        else:
            assert 20 <= len(_CJK.findall(row["answer"])) <= 120, row


@pytest.mark.parametrize("field", ["instruction", "answer"])
def test_seed_has_no_duplicates_within_or_across_languages(field):
    texts = [normalise_text(row[field]) for lang in ("en", "zh") for row in _seed_rows(lang)]
    repeated = [text for text, count in Counter(texts).items() if count > 1]
    assert not repeated


def test_chinese_seed_is_chinese_and_english_seed_is_not():
    for row in _seed_rows("zh"):
        for field in ("instruction", "answer"):
            letters = [ch for ch in row[field] if ch.isalnum()]
            share = sum(bool(_CJK.match(ch)) for ch in letters) / len(letters)
            assert share >= 0.8, row
    for row in _seed_rows("en"):
        assert not _CJK.search(row["instruction"] + row["answer"]), row


def test_default_sources_load_without_drops():
    rows, stats = load_instructions(default_sources())
    assert [s.dropped_empty + s.dropped_duplicate for s in stats] == [0, 0]
    assert [s.source for s in stats] == [
        "dataset_builder/seed/instructions_en.jsonl",
        "dataset_builder/seed/instructions_zh.jsonl",
    ]
    by_lang = Counter(row.lang for row in rows)
    assert by_lang["en"] >= 300 and by_lang["zh"] >= 100
    assert all(row.kind in KINDS for row in rows)


# ----------------------------------------------------------------------------- sampling


def test_sampling_is_deterministic_balanced_and_seed_dependent():
    rows = _synthetic({"open_ended": 30, "commonsense": 30, "knowledge": 30})
    first = sample_instructions(rows, 20, seed=0)
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    assert first == sample_instructions(shuffled, 20, seed=0)  # input order is irrelevant
    assert [r.id for r in first] != [r.id for r in sample_instructions(rows, 20, seed=1)]
    assert len(first) == 20 == len({r.id for r in first})
    counts = Counter(r.kind for r in first).values()
    assert max(counts) - min(counts) <= 1
    bigger = sample_instructions(rows, 50, seed=0)
    assert {r.id for r in first} <= {r.id for r in bigger}  # growing n keeps earlier rows


def test_sampling_is_pinned():
    """The order is a sha256 ranking, so it cannot drift with the Python version."""
    rows = _synthetic({"commonsense": 5, "knowledge": 5})
    ids = [r.id for r in sample_instructions(rows, 4, seed=7)]
    assert ids == [
        "en-commonsense-000",
        "en-knowledge-000",
        "en-commonsense-002",
        "en-knowledge-003",
    ]


def test_sampling_fills_from_larger_kinds_and_caps_at_the_pool():
    rows = _synthetic({"open_ended": 2, "knowledge": 20})
    sample = sample_instructions(rows, 10, seed=0)
    assert Counter(r.kind for r in sample) == {"open_ended": 2, "knowledge": 8}
    assert len(sample_instructions(rows, 100, seed=0)) == 22
    assert sample_instructions(rows, 0, seed=0) == []


def test_split_is_stratified_exact_and_disjoint():
    rows = _synthetic({"open_ended": 14, "commonsense": 13, "knowledge": 13})
    pool = split_train_test(rows, 0.25, seed=3)
    assert sorted(r.id for r in pool) == sorted(r.id for r in rows)
    test = Counter(r.kind for r in pool if r.split == "test")
    assert test == {"open_ended": 4, "commonsense": 3, "knowledge": 3}
    train_ids = {r.id for r in pool if r.split == "train"}
    assert train_ids.isdisjoint(r.id for r in pool if r.split == "test")
    assert pool == split_train_test(list(reversed(rows)), 0.25, seed=3)
    assert {r.split for r in split_train_test(rows, 0.0, seed=3)} == {"train"}
    assert {r.split for r in split_train_test(rows, 1.0, seed=3)} == {"test"}


def test_select_pool_per_language():
    rows, _ = load_instructions(default_sources())
    cfg = InstructionsConfig(n_en=30, n_zh=9, seed=11)
    pool = select_pool(rows, cfg)
    assert Counter(r.lang for r in pool) == {"en": 30, "zh": 9}
    assert pool == select_pool(list(reversed(rows)), cfg)
    other = select_pool(rows, cfg.model_copy(update={"seed": 12}))
    assert {r.id for r in pool} != {r.id for r in other}


# ----------------------------------------------------------------------------- stage


def test_build_instruction_pool_writes_a_disjoint_pool(tmp_path):
    out = tmp_path / "data" / "instructions" / "pool.jsonl"
    cfg = InstructionsConfig(n_en=40, n_zh=12)
    counts = build_instruction_pool(cfg, out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(row) == POOL_FIELDS for row in rows)
    assert [(r["lang"], r["id"]) for r in rows] == sorted((r["lang"], r["id"]) for r in rows)
    train = {normalise_text(r["instruction"]) for r in rows if r["split"] == "train"}
    test = {normalise_text(r["instruction"]) for r in rows if r["split"] == "test"}
    assert train and test and train.isdisjoint(test)
    assert counts["total"] == len(rows) == 52
    assert counts["test"] == sum(r["split"] == "test" for r in rows) == 13
    en = counts["by_lang"]["en"]
    assert en["selected"] == 40 and en["train"] + en["test"] == 40 and en["available"] >= 300
    assert sum(k["test"] for k in en["by_kind"].values()) == en["test"] == 10
    assert set(en["by_kind"]) == set(KINDS)
    assert counts["by_lang"]["zh"]["selected"] == 12
    assert counts["dropped_empty"] == counts["dropped_duplicate"] == 0
    first = out.read_bytes()
    build_instruction_pool(cfg, out)
    assert out.read_bytes() == first  # same config, same bytes
    assert sorted(p.name for p in out.parent.iterdir()) == ["pool.jsonl"]  # no temporaries


def test_default_config_is_english_only(tmp_path):
    cfg = InstructionsConfig()
    assert cfg.n_zh == 0 and cfg.out == "data/instructions/pool.jsonl"
    counts = build_instruction_pool(cfg, tmp_path / "pool.jsonl")
    assert counts["by_lang"]["en"]["selected"] == cfg.n_en == counts["total"]
    assert counts["by_lang"]["zh"]["selected"] == 0


def test_config_rules():
    with pytest.raises(ValidationError, match="no source has lang 'zh'"):
        InstructionsConfig(sources=[{"path": "x.jsonl", "lang": "en"}], n_zh=5)
    with pytest.raises(ValidationError, match="extra"):
        InstructionsConfig(n_fr=3)
    with pytest.raises(ValidationError, match="different columns"):
        InstructionSource(path="x.csv", lang="en", columns={"instruction": "t", "answer": "t"})
    with pytest.raises(ValidationError):
        InstructionsConfig(test_fraction=1.5)
    with pytest.raises(ValidationError):
        InstructionsConfig(sources=[])
    with pytest.raises(ConfigError, match="seed source"):
        load_source(InstructionSource(path="seed:../params.yaml", lang="en"))


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


def test_one_id_for_two_instructions(tmp_path):
    first = _write_jsonl(tmp_path / "a.jsonl", [{"id": "x1", "instruction": "A?", "answer": "a"}])
    second = _write_jsonl(tmp_path / "b.jsonl", [{"id": "x1", "instruction": "B?", "answer": "b"}])
    with pytest.raises(InputError) as err:
        load_instructions(
            [
                InstructionSource(path=str(first), lang="en"),
                InstructionSource(path=str(second), lang="en"),
            ]
        )
    assert _one_line(err) == (
        f"{second}: id 'x1' is used by two different instructions (the other is in {first})"
    )


def test_duplicates_across_sources_are_dropped_and_counted(tmp_path):
    first = _write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Why rain?", "answer": "Clouds."}])
    second = _write_jsonl(
        tmp_path / "b.jsonl",
        [
            {"instruction": "why  RAIN", "answer": "Other."},
            {"instruction": "Why snow?", "answer": "Cold."},
        ],
    )
    rows, stats = load_instructions(
        [InstructionSource(path=str(p), lang="en") for p in (first, second)]
    )
    assert [r.answer for r in rows] == ["Clouds.", "Cold."]
    assert [s.dropped_duplicate for s in stats] == [0, 1]
