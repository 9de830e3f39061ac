"""Stage `instructions`: seed files, sampling, train/test split, repeats across sources
(readers and column mapping: tests/test_instruction_readers.py)."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataset_builder.instruction_readers import (
    KINDS,
    SEED_DIR,
    Instruction,
    load_source,
    normalise_text,
)
from dataset_builder.instructions import (
    build_instruction_pool,
    load_instructions,
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


def test_a_language_of_a_few_distinct_kinds_still_gets_a_test_instruction():
    rows = _synthetic({"open_ended": 1, "commonsense": 1, "knowledge": 1})
    pool = split_train_test(rows, 0.25, seed=3)  # each kind rounds to 0 test rows
    assert Counter(r.split for r in pool) == {"train": 2, "test": 1}
    assert pool == split_train_test(list(reversed(rows)), 0.25, seed=3)
    assert {r.split for r in split_train_test(rows[:1], 0.25, seed=3)} == {"train"}
    assert {r.split for r in split_train_test(rows, 0.0, seed=3)} == {"train"}


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


# ----------------------------------------------------------------------------- repeats


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
