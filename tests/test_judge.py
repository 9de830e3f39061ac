"""The pairwise LLM judge against a scripted judge on a real local OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from rolellm.engine.config import EngineConfig, OpenAIBackendConfig
from rolellm.engine.engine import build_engine
from tests.servers.scripted_judge import ScriptedServer, prefer_marker, prefer_position
from training.judge import (
    A_END,
    A_TAG,
    B_TAG,
    JudgeConfig,
    JudgeItem,
    Verdict,
    bootstrap_ci,
    judge_items,
    sample_items,
)

MARK = "<<MODEL>>"
ITEMS = [
    JudgeItem("Hamlet", "Prince of Denmark.", f"Question {i}?", f"{MARK} answer {i}", f"base {i}")
    for i in range(4)
]


def _engine(server: ScriptedServer, tmp_path, retries: int = 0):
    openai = OpenAIBackendConfig(
        base_url=server.base_url, model="judge", max_retries=0, timeout_s=10.0
    )
    cfg = EngineConfig(
        backend="openai", openai=openai, json_retries=retries, cache_dir=str(tmp_path)
    )
    return build_engine(cfg, "judge")


def _judge(script, tmp_path, items=ITEMS, retries: int = 0):
    with ScriptedServer(script) as server:
        engine = _engine(server, tmp_path, retries)
        try:
            result = judge_items(items, engine, JudgeConfig(bootstrap_samples=200))
        finally:
            engine.close()
    return result, server.requests


def _answer_a(request: dict) -> str:
    text = request["messages"][-1]["content"]
    return text[text.index(A_TAG) + len(A_TAG) : text.index(A_END)].strip()


def test_position_biased_judge_is_cancelled_by_swapping(tmp_path):
    result, requests = _judge(prefer_position("A"), tmp_path)
    # Both orders of every item were asked: the model's answer was in A exactly once each.
    assert len(requests) == 2 * len(ITEMS)
    firsts = [_answer_a(r) for r in requests]
    for item in ITEMS:
        assert firsts.count(item.answer) == 1 and firsts.count(item.baseline) == 1
    assert result.win_rate == 0.5
    assert (result.wins, result.ties, result.losses) == (4, 0, 4)
    assert result.prefers_a == 1.0 and result.consistent == 0.0
    assert result.item_scores == (0.5,) * 4


def test_judge_that_prefers_the_model_answer_gives_one(tmp_path):
    result, _ = _judge(prefer_marker(MARK, A_TAG, B_TAG), tmp_path)
    assert result.win_rate == 1.0
    assert (result.wins, result.ties, result.losses, result.invalid) == (8, 0, 0, 0)
    assert result.consistent == 1.0 and result.prefers_a == 0.5
    assert result.ci == (1.0, 1.0)


def test_ties_count_half_and_the_cache_serves_a_rerun(tmp_path):
    tie = lambda messages: json.dumps({"reason": "same", "winner": "Tie"})  # noqa: E731
    result, requests = _judge(tie, tmp_path)
    assert result.win_rate == 0.5 and result.ties == 8 and result.prefers_a is None
    again, more = _judge(tie, tmp_path)  # same cache folder: nothing is asked again
    assert again == result and more == []


def test_items_without_two_valid_verdicts_are_left_out(tmp_path):
    def script(messages):
        text = messages[-1]["content"]
        return "no idea" if "Question 0?" in text else prefer_position("B")(messages)

    result, _ = _judge(script, tmp_path)
    assert result.invalid == 1 and len(result.item_scores) == 3
    assert result.win_rate == 0.5


def test_verdict_parsing_is_lenient_about_case():
    assert Verdict.model_validate({"winner": " a. "}).winner == "A"
    assert Verdict.model_validate({"winner": "TIE"}).winner == "tie"
    with pytest.raises(ValueError):
        Verdict.model_validate({"winner": "C"})


def test_bootstrap_ci_contains_the_estimate_and_is_seeded():
    scores = [1.0, 0.5, 0.0, 1.0, 1.0, 0.75, 0.25, 1.0, 0.5, 1.0]
    mean = sum(scores) / len(scores)
    low, high = bootstrap_ci(scores, samples=500, seed=7)
    assert low <= mean <= high and low < high
    assert bootstrap_ci(scores, samples=500, seed=7) == (low, high)
    assert bootstrap_ci(scores, samples=500, seed=8) != (low, high)
    assert bootstrap_ci([0.5], samples=50) == (0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_sample_items_is_a_seeded_subset_in_order():
    picked = sample_items(ITEMS, 2, seed=3)
    assert len(picked) == 2 and picked == sample_items(ITEMS, 2, seed=3)
    assert [ITEMS.index(i) for i in picked] == sorted(ITEMS.index(i) for i in picked)
    assert sample_items(ITEMS, None, 0) == ITEMS
