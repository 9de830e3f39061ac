"""Stage `evaluate`: hand-computed Rouge-L views, breakdowns, and the stage end to end
(tiny random model + random LoRA adapter: gibberish answers, exact plumbing)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

from dataset_builder.rolebench_io import write_rolebench
from rolellm.engine.config import EngineConfig, LocalBackendConfig, OpenAIBackendConfig
from tests.servers.scripted_judge import ScriptedServer, prefer_position
from training.eval_config import EvalPaths, EvaluateConfig
from training.eval_views import (
    EvalItem,
    RougeSettings,
    Scored,
    ScorerSet,
    per_role_rows,
    score_system,
    summarise,
)
from training.evaluate import run_evaluate
from training.judge import JudgeConfig
from training.score import score_files

IG = "instruction_generalization"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- views, by hand ----------------------------------------------------------------------

PRED = "The cat sat on the mat."  # the cat sat on the mat: 6 tokens


def _general(**kw) -> EvalItem:
    base = dict(config="c", setting="s", lang="en", kind="general", role="Hamlet", question="q")
    return EvalItem(**(base | kw))


def test_views_on_a_hand_computed_example():
    item = _general(
        references=("the cat", "Cat sat on the mat today"),  # LCS 2 of 6|2; LCS 5 of 6|6
        raw_reference="the cat sat",  # LCS 3: P 3/6, R 3/3 -> F1 2/3
    )
    spe = EvalItem("c", "s", "en", "role_specific", "Hamlet", "q", ("My friend Horatio",), "")
    scored = score_system(
        "m", [item, spe], [PRED, "Horatio is my friend"], ScorerSet(RougeSettings())
    )
    got = {row.view: row.score for row in scored}
    assert got["RAW"] == pytest.approx(2 / 3, abs=1e-12)
    assert got["CUS"] == pytest.approx(5 / 6, abs=1e-12)  # the best reference (max)
    assert got["SPE"] == pytest.approx(4 / 7, abs=1e-12)  # LCS 2: P 2/4, R 2/3


def test_multi_reference_max_versus_first():
    item = _general(references=("the cat", "Cat sat on the mat today"))
    first = ScorerSet(RougeSettings(multi_ref="first"))
    best = ScorerSet(RougeSettings(multi_ref="max"))
    assert score_system("m", [item], [PRED], first)[0].score == pytest.approx(0.5, abs=1e-12)
    assert score_system("m", [item], [PRED], best)[0].score == pytest.approx(5 / 6, abs=1e-12)
    assert "first reference only" in RougeSettings(multi_ref="first").describe()


def test_raw_needs_a_reference_and_missing_answers_are_not_scored():
    item = _general(references=("the cat",), raw_reference="  ")
    assert [view for view, _ in item.views()] == ["CUS"]
    scored = score_system("m", [item, item], [None, PRED], ScorerSet(RougeSettings()))
    assert len(scored) == 1


def test_aggregation_per_role_per_type_and_average():
    def row(system, view, role, kind, score):
        return Scored(system, IG, "c", view, role, kind, score)

    scored = [
        row("rocit", "SPE", "Hamlet", "script_based", 0.2),
        row("rocit", "SPE", "Hamlet", "script_agnostic", 0.4),
        row("rocit", "SPE", "Juliet", "script_based", 0.9),
        row("rocit", "CUS", "Hamlet", None, 0.3),
        row("base", "CUS", "Juliet", None, 0.1),
    ]
    summary = summarise(scored, ["base", "rocit"])
    assert summary.systems == ["base", "rocit"]
    spe = summary.get(IG, "rocit", "SPE")
    assert spe.mean == pytest.approx(0.5)
    assert spe.per_role == pytest.approx({"Hamlet": 0.3, "Juliet": 0.9})
    assert spe.role_counts == {"Hamlet": 2, "Juliet": 1}
    assert spe.per_type == pytest.approx({"script_agnostic": 0.4, "script_based": 0.55})
    metrics = summary.metrics()[IG]
    assert metrics["rocit"]["avg"] == pytest.approx(0.4)  # (CUS 0.3 + SPE 0.5) / 2
    assert metrics["base"] == {"CUS": 0.1, "avg": 0.1}
    rows = {(r["view"], r["role"]): r for r in per_role_rows(summary)}
    assert rows[("SPE", "Hamlet")] == {
        "setting": IG,
        "view": "SPE",
        "role": "Hamlet",
        "n": 2,
        "base": "",
        "rocit": 0.3,
    }
    assert rows[("CUS", "Juliet")]["base"] == 0.1 and rows[("CUS", "Juliet")]["rocit"] == ""


# --- a tiny RoleBench folder -------------------------------------------------------------

ROLES = [
    {"name": "Hamlet", "lang": "en", "description": "Prince of Denmark.", "catchphrases": []},
    {"name": "Juliet", "lang": "en", "description": "A Capulet."},
    {"name": "Prospero", "lang": "en", "description": "A magician.", "held_out": True},
    {"name": "孙悟空", "lang": "zh", "description": "齐天大圣。"},
]


def _g(role, question, refs, reference="", kind="open_qa"):
    return {
        "role": role,
        "question": question,
        "generated": refs,
        "reference": reference,
        "kind": kind,
    }


def _s(role, question, answer, kind):
    return {
        "role": role,
        "question": question,
        "generated": [answer],
        "type": kind,
        "confidence": 0.9,
    }


def tiny_rolebench(folder: Path) -> Path:
    q0 = "What do you think of the question of being?"
    ig_test = [
        _g(
            "Hamlet",
            " " + q0,
            ["To be, or not to be: that is the question.", "Words."],
            "to be or not to be",
        ),
        _g("Hamlet", "Last words?", ["The rest is silence.", "Goodnight."], "the rest is silence"),
        _g(
            "Juliet",
            "Where is Romeo?",
            ["O Romeo, Romeo, wherefore art thou Romeo?"],
            "wherefore art thou romeo",
        ),
    ]
    ig_base = [  # RoleGPT's sixth answer: one per test row except Juliet's
        _g("Hamlet", q0, ["To be, or not to be: that is the question."]),
        _g("Hamlet", "Last words?", ["The rest is silence."]),
    ]
    rs_test = [
        _s("Hamlet", "Who is your friend?", "Horatio is my friend.", "script_based"),
        _s("Hamlet", "Who are you?", "I am the Prince of Denmark.", "script_agnostic"),
        _s("Juliet", "Whom do you love?", "Romeo.", "script_based"),
    ]
    rs_base = [
        _s("Hamlet", "Who is your friend?", "Horatio is my friend.", "script_based"),
        _s("Hamlet", "Who are you?", "Prince of Denmark, that is me.", "script_agnostic"),
        _s("Juliet", "Whom do you love?", "Romeo.", "script_based"),
    ]
    rg_test = [  # as imported from the original release: no original answer
        _g("Prospero", "What is your art?", ["My so potent art."]),
        _g("Prospero", "Where is Ariel?", ["Ariel is free."]),
    ]
    zh_test = [_g("孙悟空", "你是谁？", ["俺老孙来也！"], "我是孙悟空")]
    shards = {
        ("eng_instruction_generalization_general", "test"): ig_test,
        ("eng_instruction_generalization_general", "rolegpt_baseline"): ig_base,
        ("eng_instruction_generalization_role_specific", "test"): rs_test,
        ("eng_instruction_generalization_role_specific", "rolegpt_baseline"): rs_base,
        ("eng_role_generalization_general", "test"): rg_test,
        ("zh_general", "test"): zh_test,
        ("zh_general", "rolegpt_baseline"): [_g("孙悟空", "你是谁？", ["俺老孙来也！"])],
    }
    write_rolebench(folder, shards, ROLES)
    return folder


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) weights: it changes the tiny model's answers."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(
        r=4,
        lora_alpha=64,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    out = tmp_path_factory.mktemp("rocit") / "adapter"
    get_peft_model(model, lora).save_pretrained(out)
    return out


def _engine(tmp: Path) -> EngineConfig:
    local = LocalBackendConfig(device="cpu", dtype="float32", batch_size=16)
    return EngineConfig(local=local, cache_dir=str(tmp / "cache"))


@pytest.fixture(scope="module")
def stage(tiny_model_dir, adapter_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    data = tiny_rolebench(tmp / "rolebench")
    paths = EvalPaths(data=data, metrics=tmp / "metrics" / "eval.json", reports=tmp / "reports")
    with ScriptedServer(prefer_position("A")) as server:
        judge = JudgeConfig(
            enabled=True,
            openai=OpenAIBackendConfig(base_url=server.base_url, model="judge", max_retries=0),
            bootstrap_samples=100,
        )
        cfg = EvaluateConfig(
            model=str(tiny_model_dir), adapter=str(adapter_dir), max_new_tokens=8, judge=judge
        )
        first = run_evaluate(cfg, _engine(tmp), paths)
        asked = len(server.requests)
        second = run_evaluate(cfg, _engine(tmp), paths)  # every call cached
        assert len(server.requests) == asked
    return {"paths": paths, "result": first, "again": second, "asked": asked, "data": data}


def test_stage_metrics_have_every_setting_system_and_view(stage):
    metrics = json.loads(stage["paths"].metrics.read_text())
    assert metrics == stage["again"].metrics == stage["result"].metrics
    assert list(metrics) == [IG, "role_generalization", "zh"]
    assert list(metrics[IG]) == ["rocit", "base", "rolegpt", "rocit_minus_base"]
    delta = metrics[IG]["rocit_minus_base"]
    assert set(delta) == {"CUS", "SPE"}
    assert delta["CUS"] == pytest.approx(
        metrics[IG]["rocit"]["CUS"] - metrics[IG]["base"]["CUS"], abs=2e-6
    )
    for system in ("rocit", "base"):
        assert {"CUS", "RAW", "SPE", "avg"} <= set(metrics[IG][system])
        assert set(metrics[IG][system]["SPE_by_type"]) == {"script_agnostic", "script_based"}
    # RoleGPT's numbers do not depend on the model, so they are exact:
    rolegpt = metrics[IG]["rolegpt"]
    assert rolegpt["CUS"] == 1.0  # its answers equal the first reference
    assert rolegpt["RAW"] == pytest.approx((0.75 + 1.0) / 2, abs=1e-6)  # LCS 6 of 10|6; exact
    assert rolegpt["SPE"] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-6)
    assert rolegpt["SPE_by_type"] == {"script_agnostic": 0.5, "script_based": 1.0}
    assert rolegpt["avg"] == pytest.approx((1.0 + 0.875 + 2.5 / 3) / 3, abs=1e-6)
    # role generalisation rows have no original answer: RAW is skipped, not zero
    assert "RAW" not in metrics["role_generalization"]["rocit"]
    assert "CUS" in metrics["role_generalization"]["rocit"]
    assert metrics["zh"]["rolegpt"]["CUS"] == 1.0


def test_stage_judge_swaps_orders(stage):
    metrics = stage["result"].metrics
    judged = [(s, sys) for s, v in metrics.items() for sys, m in v.items() if "judge" in m]
    assert judged, "the judge ran on no item"
    for setting, system in judged:
        verdict = metrics[setting][system]["judge"]
        assert verdict["win_rate"] == 0.5  # a judge that always picks A, cancelled
        assert verdict["ci_low"] <= 0.5 <= verdict["ci_high"]
    assert stage["asked"] == 2 * sum(metrics[s][sys]["judge"]["n"] for s, sys in judged)


def test_stage_predictions_rescore_with_rolellm_score(stage, tmp_path):
    paths, data = stage["paths"], stage["data"]
    folder = paths.predictions
    assert {p.name for p in folder.iterdir()} == {"rocit", "base", "rolegpt"}
    config = "eng_instruction_generalization_general"
    rows = [json.loads(line) for line in (folder / "rocit" / f"{config}.jsonl").open()]
    assert len(rows) == 3 and all(set(r) == {"role", "question", "generated"} for r in rows)
    base = [json.loads(line) for line in (folder / "base" / f"{config}.jsonl").open()]
    assert [r["generated"] for r in rows] != [r["generated"] for r in base]  # the adapter acts
    assert len((folder / "rolegpt" / f"{config}.jsonl").read_text().splitlines()) == 2
    specific = folder / "rocit" / "eng_instruction_generalization_role_specific.jsonl"
    assert all("type" in json.loads(line) for line in specific.open())
    from dataset_builder.rolebench_io import read_shard

    refs = tmp_path / "refs.jsonl"
    test = read_shard(data, config, "test")[["role", "question", "generated"]]
    refs.write_text(test.to_json(orient="records", lines=True, force_ascii=False))
    rescored = score_files(folder / "rocit" / f"{config}.jsonl", refs)
    assert rescored["rougeL"] == pytest.approx(
        stage["result"].metrics[IG]["rocit"]["CUS"], abs=1e-6
    )


def test_stage_csv_plots_and_report(stage):
    paths = stage["paths"]
    with paths.per_role_csv.open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["setting", "view", "role", "n", "rocit", "base", "rolegpt"]
    hamlet = next(r for r in table if (r["setting"], r["view"], r["role"]) == (IG, "SPE", "Hamlet"))
    assert hamlet["n"] == "2" and float(hamlet["rolegpt"]) == 0.75
    pngs = sorted(paths.plots.glob("*.png"))
    assert paths.plots / f"{IG}_CUS.png" in pngs
    from PIL import Image

    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
    report = paths.report.read_text()
    assert "## Did RoCIT help?" in report
    assert re.search(rf"\| {IG} \| CUS \| \d\.\d{{4}} \| \d\.\d{{4}} \| [+-]\d\.\d{{4}} \|", report)
    assert re.search(rf"\| {IG} \| SPE \|", report)
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert links and all((paths.report.parent / link).is_file() for link in links)
    assert "RAW skipped for 2 of 6 general rows" in report
    assert "1 of 7 test rows have no rolegpt_baseline answer" in report
    assert "best F1 over its references (max)" in report
    assert "## LLM judge" in report
    details = json.loads(paths.details.read_text())
    assert details["views"][IG]["rolegpt"]["CUS"]["n"] == 2


# --- standalone: any model on any RoleBench folder ---------------------------------------


def test_cli_scores_a_served_model_alone(tmp_path):
    """`rolellm evaluate -s engine.backend=openai`: a server that answers with the references."""
    from typer.testing import CliRunner

    from rolellm.cli import app

    data = tiny_rolebench(tmp_path / "rolebench")
    answers = {
        "What do you think of the question of being?": "To be, or not to be: that is the question.",
        "Last words?": "The rest is silence.",
        "Where is Romeo?": "O Romeo, Romeo, wherefore art thou Romeo?",
        "Who is your friend?": "Horatio is my friend.",
        "Who are you?": "I am the Prince of Denmark.",
        "Whom do you love?": "Romeo.",
    }
    params = tmp_path / "params.yaml"
    params.write_text(f"engine:\n  cache_dir: {tmp_path / 'cache'}\n  openai: {{max_retries: 0}}\n")
    with ScriptedServer(lambda messages: answers[messages[-1]["content"]]) as server:
        args = ["evaluate", "-p", str(params), "--data", str(data), "-s", "engine.backend=openai"]
        args += ["-s", f"engine.openai.base_url={server.base_url}", "--model", "served"]
        args += ["-s", "evaluate.compare_base=false"]
        args += [
            "-s",
            "evaluate.configs=[eng_instruction_generalization_general,"
            " eng_instruction_generalization_role_specific]",
        ]
        args += ["--metrics", str(tmp_path / "m.json"), "--reports", str(tmp_path / "r")]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics[IG]) == ["model", "rolegpt"]
    assert metrics[IG]["model"]["CUS"] == 1.0 and metrics[IG]["model"]["SPE"] == 1.0
    assert metrics[IG]["model"]["RAW"] == pytest.approx((0.75 + 1.0 + 8 / 11) / 3, abs=1e-6)
    report = (tmp_path / "r" / "eval.md").read_text()
    assert "No RoCIT-vs-base comparison" in report


def test_failed_generations_score_zero_and_are_reported(tiny_model_dir, tmp_path):
    data = tiny_rolebench(tmp_path / "rolebench")
    local = LocalBackendConfig(device="cpu", dtype="float32", max_input_tokens=4)
    engine = EngineConfig(local=local, cache_dir=str(tmp_path / "cache"))
    cfg = EvaluateConfig(
        model=str(tiny_model_dir), adapter=None, configs=("eng_role_generalization_general",)
    )
    paths = EvalPaths(data=data, metrics=tmp_path / "m.json", reports=tmp_path / "r")
    result = run_evaluate(cfg, engine, paths)
    assert result.metrics == {"role_generalization": {"model": {"CUS": 0.0, "avg": 0.0}}}
    assert any("generation failed for 2 of 2 rows" in note for note in result.notes)
    assert "max_input_tokens" in paths.report.read_text()
    rows = (paths.predictions / "model" / "eng_role_generalization_general.jsonl").read_text()
    assert [json.loads(line)["generated"] for line in rows.splitlines()] == [[""], [""]]
