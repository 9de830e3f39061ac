"""RoleGPT on role-specific test questions: which rows, the prompt, the baseline shards."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from dataset_builder.assemble import run_assemble, specific_test_rows
from dataset_builder.assemble_config import AssembleConfig
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.rolegpt_specific import run_rolegpt_specific
from rolellm.atomic import read_jsonl, write_jsonl
from rolellm.engine.types import Call
from rolellm.records import Role
from tests.test_assemble import ROSTER, _ci_rows, _rolegpt_rows
from tests.test_rolegpt import HAMLET_LINES, _engine

SPLIT = AssembleConfig(test_fraction=0.2)


def _profiles(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for role in ROSTER:
        lines = [
            {
                "act_id": a,
                "diag_id": d,
                "role": role["name"] if who == "HAMLET" else who,
                "content": t,
            }
            for a, d, who, t in HAMLET_LINES
        ]
        write_jsonl(folder / f"{role['slug']}.jsonl", lines)
    (folder / "roles.json").write_text(json.dumps(ROSTER, ensure_ascii=False))
    return folder


def _reply(call: Call):
    question = call.request.messages[-1]["content"]
    if "scene 3" in question:
        return "As an AI language model, I cannot say.", None
    return f"Marry, of that I will speak: {question}", None


def _run(tmp_path: Path):
    ci = tmp_path / "ci.jsonl"
    write_jsonl(ci, _ci_rows())
    engine = _engine(tmp_path, _reply)
    out = tmp_path / "gen" / "rolegpt_specific.jsonl"
    metrics = run_rolegpt_specific(
        ci, _profiles(tmp_path / "profiles"), out, RoleGPTConfig(), SPLIT, engine
    )
    return out, metrics, engine


def test_test_rows_are_the_assemble_split_of_every_role_specific_config():
    rows = specific_test_rows(_ci_rows(), [Role.from_entry(e) for e in ROSTER], SPLIT)
    by_role = {name: sum(r["role"] == name for r in rows) for name in ("HAMLET", "OPHELIA")}
    assert by_role == {"HAMLET": 2, "OPHELIA": 2}  # ceil(10 x 0.2) each
    assert sum(r["role"] == "YORICK" for r in rows) == 10  # held out: every item is test
    assert sum(r["role"] == "孙悟空" for r in rows) == 2
    assert len({(r["role"], r["question"]) for r in rows}) == len(rows) == 16


def test_one_sample_per_test_question_without_the_answer_in_the_prompt(tmp_path):
    out, metrics, engine = _run(tmp_path)
    assert engine.stats.calls == metrics["test_questions"] == 16
    rows = read_jsonl(out)
    answers = {r["question"]: r["answer"] for r in _ci_rows()}
    assert all(r["response"] == f"Marry, of that I will speak: {r['question']}" for r in rows)
    assert all(answers[r["question"]] not in r["response"] for r in rows)
    # the out-of-character replies (scene 3 of the roles that have it in test) are excluded
    dropped = read_jsonl(out.with_name("rolegpt_specific_excluded.jsonl"))
    unanswered = [d["question"] for d in dropped if d["reason"] == "too_few_responses"]
    assert "What happened in scene 3, YORICK?" in unanswered  # held out: always in test
    assert all("scene 3" in q for q in unanswered)
    assert sum(d["reason"] == "out_of_character" for d in dropped) == len(unanswered)
    assert metrics["answered"] == len(rows) == 16 - len(unanswered)


def test_assemble_writes_aligned_role_specific_baselines(tmp_path):
    out, _, _ = _run(tmp_path)
    rolegpt = tmp_path / "rolegpt.jsonl"
    write_jsonl(rolegpt, _rolegpt_rows())
    (tmp_path / "roles.json").write_text(json.dumps(ROSTER, ensure_ascii=False))
    folder = tmp_path / "rolebench"
    metrics = run_assemble(
        rolegpt,
        tmp_path / "ci.jsonl",
        tmp_path / "roles.json",
        folder,
        SPLIT,
        rolegpt_specific_path=out,
    )
    answered = {(r["role"], r["question"]): r["response"] for r in read_jsonl(out)}
    for config in ("eng_instruction_generalization_role_specific", "zh_role_specific"):
        test = datasets.load_dataset(str(folder), config, split="test")
        baseline = datasets.load_dataset(str(folder), config, split="rolegpt_baseline")
        expected = [r for r in test if (r["role"], r["question"]) in answered]
        assert [(r["role"], r["question"], r["type"]) for r in baseline] == [
            (r["role"], r["question"], r["type"]) for r in expected
        ]
        assert all(r["generated"] == [answered[(r["role"], r["question"])]] for r in baseline)
        assert metrics["rows"][f"{config}/rolegpt_baseline"] == len(expected) > 0
