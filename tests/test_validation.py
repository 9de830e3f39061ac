"""Quality gate: a clean folder passes; each injected fault fails and is named in the report."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataset_builder.importer import import_release
from dataset_builder.rolebench_io import write_rolebench
from dataset_builder.schema import CONFIGS_BY_NAME
from dataset_builder.validation import GateFailed, ValidateConfig, validate_folder
from rolellm.cli import main
from rolellm.records import role_slug

EN_IG = "eng_instruction_generalization_general"
EN_RG = "eng_role_generalization_role_specific"
ZH_G, ZH_RS = "zh_general", "zh_role_specific"
SPLITS = ("train", "test", "rolegpt_baseline")
ROLES = [
    {"name": "Ada Quill", "lang": "en"},
    {"name": "Bram Stoke", "lang": "en"},
    {"name": "Cleo Marsh", "lang": "en", "held_out": True},
    {"name": "孙悟空", "lang": "zh"},
    {"name": "李白", "lang": "zh"},
]
PROFILE_LINE = "I sailed the northern sea for twenty long years before the great storm came."

Shards = dict[tuple[str, str], list[dict]]


def _en_answer(role: str, i: int, k: int) -> str:
    return f"{role} says, calmly: number {i} reminds me of harbour lights, version {k}."


def _zh_answer(role: str, i: int, k: int) -> str:
    return f"{role}说：第{i}件事好比山高水长，云海茫茫，第{k}回。"


def _general(role: str, i: int, lang: str, n: int) -> dict:
    answer = _zh_answer if lang == "zh" else _en_answer
    question = f"请讲讲第{i}个故事吧？" if lang == "zh" else f"Could you tell story number {i}?"
    reference = f"第{i}个故事的原始答案。" if lang == "zh" else f"The original answer to {i}."
    return {
        "role": role,
        "question": question,
        "generated": [answer(role, i, k) for k in range(n)],
        "reference": reference,
        "kind": "general",
    }


def _specific(role: str, i: int, lang: str) -> dict:
    answer = _zh_answer if lang == "zh" else _en_answer
    question = f"{role}，你的第{i}段经历是什么？" if lang == "zh" else f"{role}, what happened {i}?"
    return {
        "role": role,
        "question": question,
        "generated": [answer(role, i, 0)],
        "type": "script_based" if i % 2 else "script_agnostic",
        "confidence": 0.9,
    }


def _rows(kind: str, roles: list[str], questions: range, lang: str, n: int) -> list[dict]:
    if kind == "general":
        return [_general(role, i, lang, n) for i in questions for role in roles]
    return [_specific(role, i, lang) for i in questions for role in roles]


def good_shards() -> Shards:
    """Four configs (English/Chinese, general/role-specific), all three splits, 10 rows each."""
    shards: Shards = {}
    plan = {
        EN_IG: (["Ada Quill", "Bram Stoke"], ["Ada Quill", "Bram Stoke"]),
        EN_RG: (["Ada Quill", "Bram Stoke"], ["Cleo Marsh"]),
        ZH_G: (["孙悟空", "李白"], ["孙悟空", "李白"]),
        ZH_RS: (["孙悟空", "李白"], ["孙悟空", "李白"]),
    }
    for config, (train_roles, test_roles) in plan.items():
        spec = CONFIGS_BY_NAME[config]
        test_questions = range(10, 10 + 10 // len(test_roles))
        shards[(config, "train")] = _rows(spec.kind, train_roles, range(5), spec.lang, 5)
        shards[(config, "test")] = _rows(spec.kind, test_roles, test_questions, spec.lang, 5)
        shards[(config, "rolegpt_baseline")] = _rows(
            spec.kind, test_roles, test_questions, spec.lang, 1
        )
    return shards


def write_profiles(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [PROFILE_LINE, "Short line.", "The harbour was quiet that night, and so was I."]
    rows = [
        {"act_id": 1, "diag_id": i, "role": "Ada Quill", "content": c} for i, c in enumerate(lines)
    ]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    (folder / f"{role_slug('Ada Quill')}.jsonl").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def profiles(tmp_path_factory) -> Path:
    return write_profiles(tmp_path_factory.mktemp("profiles"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory, profiles):
    """The clean folder, validated once with Data Docs."""
    root = tmp_path_factory.mktemp("clean")
    write_rolebench(root / "rb", good_shards(), ROLES)
    report = validate_folder(
        root / "rb", ValidateConfig(), root / "validation.json", root / "docs", profiles
    )
    return root, report


def test_clean_folder_passes(clean):
    root, report = clean
    assert report.success, "\n".join(report.lines())
    metrics = json.loads((root / "validation.json").read_text(encoding="utf-8"))
    assert metrics["success"] is True
    assert len(metrics["shards"]) == 12
    for shard in metrics["shards"].values():
        assert shard["success"] and shard["evaluated"] == shard["passed"] > 15
        assert shard["rows"] == 10
    assert metrics["evaluated"] == metrics["passed"]


def test_data_docs_index_links_every_shard(clean):
    root, report = clean
    index = root / "docs" / "index.html"
    html = index.read_text(encoding="utf-8")
    links = set(re.findall(r"validations/[^\"'\\ ]+?\.html", html))
    for shard in report.shards:
        asset = shard.shard.replace("/", ".")
        page = [link for link in links if link.endswith(f"-{asset}.html")]
        assert len(page) == 1, f"index has no link to {shard.shard}"
        assert (root / "docs" / page[0]).is_file()
    assert not any(p.name.endswith(".tmp") for p in root.iterdir())


# --- the corruption suite ------------------------------------------------------------------


def _set(key, index: int, **values) -> Callable[[Shards], None]:
    def mutate(shards: Shards) -> None:
        shards[key][index].update(values)

    return mutate


def _english_in_chinese(shards: Shards) -> None:
    for row in shards[(ZH_G, "test")][:3]:
        row["generated"] = [_en_answer("Monkey", 1, k) for k in range(5)]


def _duplicate(shards: Shards) -> None:
    shards[(ZH_G, "train")].append(copy.deepcopy(shards[(ZH_G, "train")][0]))


def _leak(shards: Shards) -> None:
    shards[(ZH_RS, "train")][0]["question"] = shards[(ZH_RS, "test")][0]["question"]
    shards[(ZH_RS, "train")][0]["role"] = shards[(ZH_RS, "test")][0]["role"]


def _extra_column(shards: Shards) -> None:
    pass  # applied on the written parquet, see _after


def _type_as_list(folder: Path) -> None:
    """The release's fault: `type` is a list in one file and a string in the others."""
    path = folder / CONFIGS_BY_NAME[ZH_RS].shard_path("test")
    table = pq.read_table(path)
    lists = pa.array([[t] for t in table.column("type").to_pylist()], pa.list_(pa.string()))
    pq.write_table(table.set_column(table.schema.get_field_index("type"), "type", lists), path)


def _add_column(folder: Path) -> None:
    path = folder / CONFIGS_BY_NAME[EN_IG].shard_path("train")
    table = pq.read_table(path)
    pq.write_table(table.append_column("source", pa.array(["x"] * table.num_rows)), path)


# (fault, mutation of rows, mutation of the written folder, expected (shard, family, check))
FAULTS = [
    ("type_list_vs_string", None, _type_as_list, (f"{ZH_RS}/test", "schema", "type_is_str")),
    ("extra_column", None, _add_column, (f"{EN_IG}/train", "schema", "columns")),
    (
        "null_question",
        _set((EN_IG, "train"), 2, question=None),
        None,
        (f"{EN_IG}/train", "completeness", "question_not_null"),
    ),
    (
        "empty_answer",
        _set((ZH_G, "test"), 1, generated=["", "  "]),
        None,
        (f"{ZH_G}/test", "completeness", "answers_not_blank"),
    ),
    (
        "unknown_role",
        _set((EN_RG, "test"), 0, role="Zed Nobody"),
        None,
        (f"{EN_RG}/test", "roster", "role_in_roster"),
    ),
    (
        "answer_too_long",
        _set((EN_IG, "test"), 0, generated=["word " * 1000] * 5),
        None,
        (f"{EN_IG}/test", "length", "answer_max_length"),
    ),
    (
        "question_too_short",
        _set((ZH_RS, "train"), 3, question="嗯？"),
        None,
        (f"{ZH_RS}/train", "length", "question_length"),
    ),
    ("english_in_chinese", _english_in_chinese, None, (f"{ZH_G}/test", "language", "script_ratio")),
    (
        "duplicate_question",
        _duplicate,
        None,
        (f"{ZH_G}/train", "uniqueness", "role_question_unique"),
    ),
    (
        "six_references",
        _set((EN_IG, "train"), 4, generated=[_en_answer("Ada Quill", 4, k) for k in range(6)]),
        None,
        (f"{EN_IG}/train", "references", "references_per_sample"),
    ),
    (
        "two_baseline_answers",
        _set((ZH_G, "rolegpt_baseline"), 0, generated=[_zh_answer("李白", 1, k) for k in range(2)]),
        None,
        (f"{ZH_G}/rolegpt_baseline", "references", "references_per_sample"),
    ),
    (
        "low_confidence",
        _set((EN_RG, "train"), 1, confidence=0.1),
        None,
        (f"{EN_RG}/train", "confidence", "confidence_floor"),
    ),
    (
        "bad_question_type",
        _set((ZH_RS, "test"), 2, type="script-based"),
        None,
        (f"{ZH_RS}/test", "question_type", "type_value"),
    ),
    (
        "out_of_character_en",
        _set((EN_RG, "test"), 3, generated=["As an AI language model, I cannot have feelings."]),
        None,
        (f"{EN_RG}/test", "out_of_character", "no_ooc_marker"),
    ),
    (
        "out_of_character_zh",
        _set((ZH_G, "train"), 5, generated=["作为一个AI，我没有真实的经历，无法回答。"] * 5),
        None,
        (f"{ZH_G}/train", "out_of_character", "no_ooc_marker"),
    ),
    (
        "copies_reference",
        _set((EN_IG, "test"), 1, reference=_en_answer("Bram Stoke", 10, 2)),
        None,
        (f"{EN_IG}/test", "copy", "no_copied_answer"),
    ),
    (
        "copies_profile_line",
        _set((EN_RG, "train"), 0, generated=[PROFILE_LINE.upper()]),
        None,
        (f"{EN_RG}/train", "copy", "no_copied_answer"),
    ),
    ("train_test_leak", _leak, None, (f"{ZH_RS}/test", "split_hygiene", "test_not_in_train")),
    (
        "held_out_role_in_train",
        _set((EN_RG, "train"), 2, role="Cleo Marsh"),
        None,
        (f"{EN_RG}/train", "split_hygiene", "held_out_not_in_train"),
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_fails_the_gate_and_is_named(fault, tmp_path, profiles):
    name, mutate, after, (shard, family, check) = fault
    shards = good_shards()
    if mutate:
        mutate(shards)
    folder = tmp_path / "rb"
    write_rolebench(folder, shards, ROLES)
    if after:
        after(folder)
    config = shard.split("/")[0]
    report = validate_folder(
        folder, ValidateConfig(), tmp_path / "v.json", None, profiles, configs=[config]
    )
    assert not report.success, f"{name} passed the gate"
    assert (shard, family, check) in report.checks, "\n".join(report.lines())
    line = next(f.line() for f in report.failures if (f.shard, f.check) == (shard, check))
    assert line.startswith(f"FAIL {shard} [{family}/{check}] expect_")
    assert line.count("\n    e.g. ") <= 3
    assert json.loads((tmp_path / "v.json").read_text())["success"] is False


def test_faults_cover_every_family():
    families = {fault[3][1] for fault in FAULTS}
    assert len(FAULTS) >= 12
    assert families >= {
        "schema",
        "completeness",
        "roster",
        "length",
        "language",
        "uniqueness",
        "references",
        "confidence",
        "question_type",
        "out_of_character",
        "copy",
        "split_hygiene",
    }


def test_failure_line_shows_count_and_examples(tmp_path):
    shards = good_shards()
    for row in shards[(EN_RG, "test")][:5]:
        row["role"] = "Zed Nobody " + "x" * 80
    write_rolebench(tmp_path / "rb", shards, ROLES)
    report = validate_folder(tmp_path / "rb", ValidateConfig(), None, None, configs=[EN_RG])
    (failure,) = [f for f in report.failures if f.check == "role_in_roster"]
    assert failure.unexpected == 5 and failure.rows == 10
    assert len(failure.examples) == 3
    assert "5 of 10 rows" in failure.line() and "…" in failure.line()


def test_tolerances_come_from_config(tmp_path):
    shards = good_shards()
    _english_in_chinese(shards)
    write_rolebench(tmp_path / "rb", shards, ROLES)
    lenient = ValidateConfig(language_mostly=0.5)
    assert not validate_folder(tmp_path / "rb", None, None, None, configs=[ZH_G]).success
    assert validate_folder(tmp_path / "rb", lenient, None, None, configs=[ZH_G]).success


# --- the raw release and the import ---------------------------------------------------------


def _raw_release(root: Path) -> Path:
    base = root / "rolebench-zh" / "role_specific"
    base.mkdir(parents=True)
    train = [_specific("孙悟空", i, "zh") for i in range(3)]
    test = [dict(_specific("孙悟空", i, "zh"), type=["script_based"]) for i in range(3, 6)]
    for split, rows in (("train", train), ("test", test)):
        for row in rows:
            row.pop("confidence")
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (base / f"{split}.jsonl").write_text(text, encoding="utf-8")
    return root


def test_raw_release_reports_the_type_fault(tmp_path):
    report = validate_folder(_raw_release(tmp_path / "release"), ValidateConfig(), None, None)
    assert not report.success
    assert (f"{ZH_RS}/test", "schema", "type_is_str") in report.checks
    assert (f"{ZH_RS}/train", "schema", "type_is_str") not in report.checks
    assert any("`type` is" in note and "list in" in note for note in report.notes)
    line = next(f.line() for f in report.failures if f.check == "type_is_str")
    assert "rolebench-zh/role_specific/test.jsonl" in line


def test_cli_validate_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: defaults
    release = _raw_release(tmp_path / "release")
    args = ["rolellm", "validate", str(release), "--report", str(tmp_path / "v.json")]
    monkeypatch.setattr("sys.argv", args + ["--docs", str(tmp_path / "docs")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == GateFailed.exit_code == 1
    captured = capsys.readouterr()
    assert "[schema/type_is_str]" in captured.out
    assert "quality gate failed" in captured.err
    assert (tmp_path / "docs" / "index.html").is_file()


def test_reference_import_passes_and_raw_release_fails(reference_dir, tmp_path):
    import_release(reference_dir, tmp_path / "rb")
    imported = validate_folder(tmp_path / "rb", ValidateConfig(), None, None)
    assert imported.success, "\n".join(imported.lines())
    raw = validate_folder(reference_dir, ValidateConfig(), None, None)
    assert not raw.success
    faults = {(shard, check) for shard, _family, check in raw.checks}
    assert faults >= {
        ("zh_role_specific/test", "type_is_str"),
        ("eng_instruction_generalization_role_specific/test", "type_is_str"),
    }
    assert not any(shard.endswith("/train") for shard, _ in faults)


def test_empty_shard_fails(tmp_path):
    shards = good_shards()
    shards[(ZH_G, "test")] = []
    write_rolebench(tmp_path / "rb", shards, ROLES)
    report = validate_folder(tmp_path / "rb", None, None, None, configs=[ZH_G])
    assert (f"{ZH_G}/test", "completeness", "rows_present") in report.checks


def test_config_section_parses_and_rejects_bad_bounds():
    cfg = ValidateConfig.model_validate(
        {"question_chars": {"min": 3, "max": 10}, "references": {"train": {"min": 5, "max": 5}}}
    )
    assert cfg.references.for_split("train").min == 5
    assert cfg.references.for_split("test").max == 5
    with pytest.raises(ValueError, match="greater than max"):
        ValidateConfig.model_validate({"answer_chars": {"min": 10, "max": 2}})
    with pytest.raises(ValueError, match="extra"):
        ValidateConfig.model_validate({"lenght": 3})


def test_gate_helpers_take_their_rules_from_the_rules_section():
    """The copy and out-of-character checks read RulesConfig (params `rules:`), nothing else."""
    import pandas as pd

    from dataset_builder.validation import checks
    from rolellm.rules import RulesConfig

    reference = "The harbour was quiet that night, and so was I, my friend."
    frame = pd.DataFrame(
        {
            "role": ["Ada Quill", "HAL 9000"],
            "question": ["Q?", "Q?"],
            "generated": [[reference[:47]], ["I am an AI, Dave, and quite content."]],
            "reference": [reference, ""],
        }
    )
    answers = checks.answers_of(frame)
    text = checks.joined_answers(answers)
    strict, lax = RulesConfig(), RulesConfig(copy_ratio=80.0, ooc_exempt_roles=())
    assert checks.copied_from(frame, answers, strict, None).isna().all()
    assert checks.copied_from(frame, answers, lax, None).tolist() == ["reference", None]
    assert checks.ooc_markers(frame, text, strict.ooc("en")).isna().all()
    assert checks.ooc_markers(frame, text, lax.ooc("en")).tolist() == [None, "I am an AI"]
