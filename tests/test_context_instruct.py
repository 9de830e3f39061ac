"""Context-Instruct: segments, JSON parsing, every filter reason, invalid replies."""

from __future__ import annotations

import json

from dataset_builder.context_instruct import run_context_instruct, segments
from dataset_builder.context_instruct_config import ContextInstructConfig
from dataset_builder.context_instruct_prompts import QAReply, example_turns, scaled_confidence
from dataset_builder.segment import exchanges
from rolellm.atomic import read_jsonl
from rolellm.engine.cache import ReplyCache
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.engine import Engine, build_engine
from rolellm.engine.types import Call
from rolellm.sections import Sampling
from tests.test_rolegpt import HAMLET, HAMLET_LINES, WUKONG, FuncBackend, _lines, make_profiles

PROFILE_LINE = "My lord, I have remembrances of yours that I have longed to redeliver."
GOOD = {
    "question": "What troubles you most, my prince?",
    "answer": "My father's murder.",
    "confidence": 9,
}
AGNOSTIC_ITEMS = [
    GOOD,
    {"question": "What is your favourite food?", "answer": "Bread and ale.", "confidence": 2},
    {"question": "Why?", "answer": "Because.", "confidence": 9},
    {"question": "what troubles you MOST my prince", "answer": "Again, murder.", "confidence": 8},
    {"question": "What troubles you most, my princes?", "answer": "Still murder.", "confidence": 8},
    {"question": "Is Denmark a prison?", "answer": "Then is the world one."},
    {
        "question": "Are you a real person?",
        "answer": "As an AI language model, no.",
        "confidence": 9,
    },
    {"question": "What did Ophelia tell you?", "answer": PROFILE_LINE, "confidence": 9},
    {"question": "Where do you live?", "answer": "In Elsinore castle.", "confidence": 9},
]
SCENE_ITEM = {"question": "Who gave you those letters?", "answer": "Not I, lady.", "confidence": 10}


def _reply(call: Call):
    prompt = call.request.messages[-1]["content"]
    if "Write 3 questions that someone could ask" in prompt:
        return json.dumps({"items": AGNOSTIC_ITEMS}), None
    if "The ghost walks" in prompt:
        return "Sure! Here are some questions about the ghost.", None
    return "```json\n" + json.dumps([SCENE_ITEM]) + "\n```", None


def _cfg(**kw) -> ContextInstructConfig:
    return ContextInstructConfig(segment_exchanges=2, agnostic_samples=1, **kw)


def test_reply_model_accepts_items_a_bare_list_or_one_item():
    item = {"question": "Who?", "answer": "Me.", "confidence": 7}
    for data in ({"items": [item]}, [item], item):
        assert QAReply.model_validate(data).items[0].question == "Who?"
    assert [scaled_confidence(v) for v in (None, 7, 12, -1)] == [None, 0.7, 1.0, 0.0]


def test_segments_are_consecutive_chunks_spread_evenly():
    items = list(range(10))
    assert segments(items, 3, 10) == [(0, [0, 1, 2]), (1, [3, 4, 5]), (2, [6, 7, 8]), (3, [9])]
    assert [n for n, _ in segments(items, 1, 4)] == [0, 2, 5, 7]
    assert len(segments(exchanges(_lines(HAMLET_LINES), "HAMLET"), 2, 10)) == 2


def test_requests_start_with_a_worked_json_example():
    turns = example_turns("en", "script_based")
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert QAReply.model_validate_json(turns[1]["content"]).items[0].confidence == 9
    assert "小红" in example_turns("zh", "script_agnostic")[0]["content"]


def test_every_filter_reason_is_counted_and_excluded(tmp_path):
    profiles = make_profiles(tmp_path / "profiles", (HAMLET, {**WUKONG, "description": ""}))
    engine = Engine(FuncBackend(_reply), ReplyCache(tmp_path / "c.sqlite"), json_retries=2)
    out = tmp_path / "gen" / "context_instruct.jsonl"
    metrics = run_context_instruct(profiles, out, _cfg(), engine, roles=["HAMLET"])

    rows = read_jsonl(out)
    assert rows == [
        {**GOOD, "role": "HAMLET", "type": "script_agnostic", "confidence": 0.9, "segment": None},
        {**SCENE_ITEM, "role": "HAMLET", "type": "script_based", "confidence": 1.0, "segment": 1},
    ]
    expected = {
        "copies_example": 1,
        "copies_profile": 1,
        "exact_duplicate": 1,
        "invalid_reply": 1,
        "low_confidence": 1,
        "near_duplicate": 1,
        "no_confidence": 1,
        "out_of_character": 1,
        "too_short": 1,
    }
    assert metrics["dropped"] == expected
    excluded = read_jsonl(tmp_path / "gen" / "context_instruct_excluded.jsonl")
    assert sorted(r["reason"] for r in excluded) == sorted(expected)
    invalid = next(r for r in excluded if r["reason"] == "invalid_reply")
    assert invalid["segment"] == 0 and "after 3 attempts" in invalid["error"]
    assert engine.stats.invalid_json == 3  # the first try and two retries
    assert metrics["requests"] == {"script_agnostic": 1, "script_based": 2}
    assert metrics["replies_parsed"] == 2 and metrics["parse_yield"] == round(2 / 3, 4)
    assert metrics["per_role"] == {"HAMLET": {"candidates": 10, "kept": 2}}


def test_role_without_description_gets_script_based_only(tmp_path):
    profiles = make_profiles(tmp_path / "profiles", (HAMLET, {**WUKONG, "description": ""}))
    engine = Engine(FuncBackend(_reply), ReplyCache(tmp_path / "c.sqlite"), json_retries=0)
    metrics = run_context_instruct(
        profiles, tmp_path / "ci.jsonl", _cfg(), engine, roles=["孙悟空"]
    )
    assert metrics["requests"] == {"script_based": 1}
    assert any("no script_agnostic request" in m for m in metrics["messages"])
    assert metrics["kept_by_type"] == {"script_based": 1}


def test_unparseable_model_output_finishes_and_reports(tiny_model_dir, tmp_path):
    cfg = EngineConfig(
        local=LocalBackendConfig(model=str(tiny_model_dir), batch_size=8, device="cpu"),
        cache_dir=str(tmp_path / "cache"),
        json_retries=1,
    )
    engine = build_engine(cfg, "context-instruct")
    profiles = make_profiles(tmp_path / "profiles", (HAMLET,))
    ci = _cfg(max_segments=1, sampling=Sampling(temperature=0.7, max_new_tokens=8))
    metrics = run_context_instruct(profiles, tmp_path / "ci.jsonl", ci, engine)
    assert metrics["replies"] == 2 and metrics["kept"] == 0
    assert metrics["dropped"] == {"invalid_reply": 2} and engine.stats.cache_misses == 4
    assert len(read_jsonl(tmp_path / "ci_excluded.jsonl")) == 2
