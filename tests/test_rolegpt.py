"""RoleGPT: BM25 demonstrations, prompt layouts, seeds, reply filtering and the stage run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_builder.retrieval import ExchangeIndex, tokenize
from dataset_builder.rolegpt import rolegpt_messages, run_rolegpt, system_prompt
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.scripts import Line
from dataset_builder.segment import exchanges
from rolellm.atomic import read_jsonl, write_jsonl
from rolellm.engine.cache import ReplyCache
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.engine import Engine, build_engine
from rolellm.engine.types import Call
from rolellm.errors import InputError
from rolellm.records import Role, read_pool
from rolellm.sections import Sampling

HAMLET_LINES = [
    (0, 0, "HORATIO", "The ghost walks upon the battlements at midnight, my lord."),
    (0, 0, "HAMLET", "I will watch tonight; perchance 'twill walk again."),
    (0, 1, "OPHELIA", "My lord, I have remembrances of yours that I have longed to redeliver."),
    (0, 1, "HAMLET", "No, not I; I never gave you aught."),
    (1, 0, "narration", "Enter Polonius."),
    (1, 0, "POLONIUS", "What do you read, my lord?"),
    (1, 0, "HAMLET", "Words, words, words."),
    (1, 1, "HAMLET", "Alone at last."),
]
WUKONG_LINES = [
    (0, 0, "猪八戒", "师兄，妖怪把师父抓走了！"),
    (0, 0, "孙悟空", "俺老孙这就去打死那妖怪。"),
    (0, 1, "唐僧", "悟空，你为何又打死了人？那白骨精明明是个村姑。"),
    (0, 1, "孙悟空", "师父，那是白骨精变的，俺的火眼金睛看得清楚！"),
]
HAMLET = {
    "name": "HAMLET",
    "slug": "hamlet",
    "lang": "en",
    "held_out": False,
    "description": "The brooding Prince of Denmark",
    "catchphrases": ["Words, words, words"],
}
WUKONG = {"name": "孙悟空", "slug": "role-wukong", "lang": "zh", "description": "齐天大圣"}


def _lines(rows) -> list[Line]:
    return [Line(*row) for row in rows]


def make_profiles(folder: Path, roles=(HAMLET, WUKONG)) -> Path:
    data = {"hamlet": HAMLET_LINES, "role-wukong": WUKONG_LINES}
    folder.mkdir(parents=True, exist_ok=True)
    for role in roles:
        write_jsonl(
            folder / f"{role['slug']}.jsonl", (ln.to_dict() for ln in _lines(data[role["slug"]]))
        )
    (folder / "roles.json").write_text(json.dumps(list(roles), ensure_ascii=False))
    return folder


def make_pool(path: Path, rows: list[dict]) -> Path:
    write_jsonl(path, rows)
    return path


POOL = [
    {
        "id": "en-1",
        "lang": "en",
        "kind": "qa",
        "instruction": "Name a famous ghost story.",
        "answer": "Hamlet features a ghost.",
        "split": "train",
    },
    {
        "id": "en-2",
        "lang": "en",
        "kind": "write",
        "instruction": "Describe what you read today.",
        "answer": "I read a novel.",
        "split": "test",
    },
]


class FuncBackend:
    """Replies computed from each call: deterministic content for stage-level tests."""

    kind = "func"
    identity = "func-v1"

    def __init__(self, reply):
        self.reply = reply
        self.sent = 0

    def decoding(self, call):
        return None  # free decoding: the engine validates and retries

    def run(self, calls, done):
        for i, call in enumerate(calls):
            self.sent += 1
            text, error = self.reply(call)
            done(i, text, error)


def _engine(tmp_path: Path, reply) -> Engine:
    return Engine(FuncBackend(reply), ReplyCache(tmp_path / "cache.sqlite"), json_retries=1)


def _polite(call: Call):
    question = call.request.messages[-1]["content"].split("\n")[0]
    return f"Reply number {call.sample}, good sir, to: {question}", None


# ----------------------------------------------------------------------------- retrieval


def test_bm25_returns_the_exchange_sharing_words_with_the_question():
    index = ExchangeIndex(exchanges(_lines(HAMLET_LINES), "HAMLET"), "en", max_lines=6)
    assert len(index) == 3  # the exchange without a user turn is never a demonstration
    [best] = index.top("Have you seen a ghost on the battlements?", 1)
    assert best.target.content.startswith("I will watch tonight")
    assert index.top("What are you reading?", 1)[0].target.content == "Words, words, words."
    assert len(index.top("unrelated zebra", 3)) == 3  # no shared word: still k demonstrations


def test_bm25_chinese_uses_jieba_words():
    assert "白骨精" in tokenize("那白骨精明明是个村姑", "zh") or "白骨" in tokenize("白骨精", "zh")
    index = ExchangeIndex(exchanges(_lines(WUKONG_LINES), "孙悟空"), "zh", max_lines=6)
    [best] = index.top("白骨精是谁变的？", 1)
    assert "火眼金睛" in best.target.content


def test_long_exchanges_are_skipped():
    index = ExchangeIndex(exchanges(_lines(HAMLET_LINES), "HAMLET"), "en", max_lines=2)
    assert [e.target.content for e in index.exchanges] == [
        "I will watch tonight; perchance 'twill walk again.",
        "No, not I; I never gave you aught.",
    ]


# ----------------------------------------------------------------------------- prompts


def _role() -> Role:
    return Role(
        "HAMLET",
        "hamlet",
        "en",
        description=HAMLET["description"],
        catchphrases=tuple(HAMLET["catchphrases"]),
    )


def _demos(k: int = 2):
    index = ExchangeIndex(exchanges(_lines(HAMLET_LINES), "HAMLET"), "en", max_lines=6)
    return index.top("What do you read? A ghost?", k)


def test_dialogue_mode_alternates_demonstrations_then_question_with_reference():
    cfg = RoleGPTConfig(mode="dialogue")
    demos = _demos()
    messages = rolegpt_messages(_role(), "What is love?", "Love is a feeling.", demos, cfg)
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert messages[0]["content"] == system_prompt(_role(), cfg)
    assert messages[0]["content"].startswith(
        "You are HAMLET, your description is: The brooding Prince of Denmark."
    )
    assert '"Words, words, words"' in messages[0]["content"]
    assert "do not expose that you are an artificial intelligence" in messages[0]["content"]
    assert messages[1]["content"] == "(Enter Polonius.)\nPOLONIUS: What do you read, my lord?"
    assert messages[2]["content"] == "Words, words, words."
    assert messages[-1]["content"] == (
        "What is love?\n\nFor reference, a plain answer is: Love is a feeling.\n"
        "Now answer in your own words, as HAMLET."
    )


def test_few_shot_prompt_mode_puts_demonstrations_in_the_system_prompt():
    cfg = RoleGPTConfig(mode="few_shot_prompt")
    messages = rolegpt_messages(_role(), "What is love?", "", _demos(), cfg)
    assert [m["role"] for m in messages] == ["system", "user"]
    system = messages[0]["content"]
    assert system.startswith(system_prompt(_role(), cfg) + "\n\nHere are some of your past")
    assert "POLONIUS: What do you read, my lord?\nHAMLET: Words, words, words." in system
    assert messages[1]["content"] == "What is love?"  # no reference answer in the pool


def test_zero_shot_mode_has_no_demonstrations():
    cfg = RoleGPTConfig(mode="zero_shot")
    messages = rolegpt_messages(_role(), "What is love?", "A feeling.", [], cfg)
    assert messages[0] == {"role": "system", "content": system_prompt(_role(), cfg)}
    assert [m["role"] for m in messages] == ["system", "user"]


def test_template_placeholders_are_checked_at_load_time():
    with pytest.raises(ValueError, match="unknown placeholder"):
        RoleGPTConfig(templates_en={"user": "{question} {answer}"})
    custom = RoleGPTConfig(templates_en={"user": "Q: {question} (ref: {reference})"})
    assert rolegpt_messages(_role(), "Why?", "Because.", [], custom)[-1]["content"] == (
        "Q: Why? (ref: Because.)"
    )


# ----------------------------------------------------------------------------- stage


def _run(tmp_path, reply, cfg=None, roles=None, pool=POOL, profiles=(HAMLET, WUKONG)):
    engine = _engine(tmp_path, reply)
    metrics = run_rolegpt(
        make_pool(tmp_path / "pool.jsonl", pool),
        make_profiles(tmp_path / "profiles", profiles),
        tmp_path / "gen" / "rolegpt.jsonl",
        cfg or RoleGPTConfig(),
        engine,
        roles=roles,
    )
    return metrics, engine


def test_six_samples_per_pair_and_chinese_role_without_instructions(tmp_path):
    metrics, engine = _run(tmp_path, _polite)
    rows = read_jsonl(tmp_path / "gen" / "rolegpt.jsonl")
    assert [r["instruction_id"] for r in rows] == ["en-1", "en-2"]
    assert all(len(r["responses"]) == 6 for r in rows)
    assert rows[0]["responses"][5].startswith("Reply number 5")
    assert {k: rows[1][k] for k in ("role", "kind", "split", "reference", "demonstrations")} == {
        "role": "HAMLET",
        "kind": "write",
        "split": "test",
        "reference": "I read a novel.",
        "demonstrations": 3,
    }
    assert metrics["pairs"] == 2 and metrics["written"] == 2
    assert metrics["roles_without_instructions"] == {"孙悟空": "zh"}
    assert any("孙悟空" in m and "no instructions" in m for m in metrics["messages"])
    assert engine.stats.calls == 12


def test_bad_replies_and_engine_errors_are_counted_and_excluded(tmp_path):
    reference = POOL[0]["answer"]
    profile_line = "My lord, I have remembrances of yours that I have longed to redeliver."

    def reply(call: Call):
        return [
            ("As an AI language model, I have no ghosts.", None),
            ("   ", None),
            (reference + " ", None),
            (profile_line, None),
            (None, "HTTP 500 from server"),
            ("HAMLET: Marry, a tale of my father's spirit.", None),
        ][call.sample]

    metrics, _ = _run(tmp_path, reply, pool=POOL[:1], roles=["HAMLET"])
    assert read_jsonl(tmp_path / "gen" / "rolegpt.jsonl") == []
    excluded = read_jsonl(tmp_path / "gen" / "rolegpt_excluded.jsonl")
    assert [r["reason"] for r in excluded] == [
        "out_of_character",
        "too_short",
        "copies_reference",
        "copies_profile",
        "engine_error",
        "too_few_responses",
    ]
    assert excluded[-1]["kept"] == 1
    assert metrics["dropped"]["engine_error"] == 1 and metrics["excluded_pairs"] == 1

    metrics, _ = _run(tmp_path / "b", reply, pool=POOL[:1], cfg=RoleGPTConfig(min_responses=2, n=6))
    assert metrics["written"] == 0  # same replies: one survivor is still too few


def test_name_prefix_is_stripped_and_short_roles_reported(tmp_path):
    def reply(call: Call):
        return f"HAMLET: Sample {call.sample} of a princely reply.", None

    metrics, _ = _run(tmp_path, reply, cfg=RoleGPTConfig(k=5, n=2), roles=["hamlet"])
    rows = read_jsonl(tmp_path / "gen" / "rolegpt.jsonl")
    assert rows[0]["responses"] == [
        "Sample 0 of a princely reply.",
        "Sample 1 of a princely reply.",
    ]
    assert rows[0]["demonstrations"] == 3
    assert metrics["demonstrations"]["roles_short"] == {"HAMLET": 3}
    assert metrics["demonstrations"]["used"] == {3: 2}


def test_changing_one_description_changes_only_that_roles_cache_keys(tmp_path):
    other = {**HAMLET, "name": "HORATIO", "slug": "horatio"}
    profiles = tmp_path / "profiles"
    make_profiles(profiles, (HAMLET,))
    write_jsonl(
        profiles / "horatio.jsonl",
        [{"act_id": 0, "diag_id": 0, "role": "HORATIO", "content": "Hail to your lordship!"}],
    )

    runs: list[int] = []

    def keys(roster) -> dict[str, set[str]]:
        runs.append(1)  # a fresh cache per run: every call reaches the backend
        (profiles / "roles.json").write_text(json.dumps(roster))
        seen: dict[str, set[str]] = {}

        def record(call: Call):
            system = call.request.messages[0]["content"]
            seen.setdefault(system.split(",")[0], set()).add(call.key("func", "func-v1"))
            return "Well met, my good friend and fellow.", None

        run_rolegpt(
            make_pool(tmp_path / "pool.jsonl", POOL),
            profiles,
            tmp_path / "out.jsonl",
            RoleGPTConfig(n=2),
            Engine(FuncBackend(record), ReplyCache(tmp_path / f"{len(runs)}.sqlite")),
        )
        return seen

    before = keys([HAMLET, other])
    after = keys([HAMLET, {**other, "description": "Hamlet's loyal friend"}])
    assert before["You are HAMLET"] == after["You are HAMLET"]
    assert before["You are HORATIO"].isdisjoint(after["You are HORATIO"])


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="roles not in roles.json: Yorick"):
        _run(tmp_path, _polite, roles=["Yorick"])
    bad = make_pool(
        tmp_path / "bad.jsonl", [{"id": 1, "lang": "fr", "instruction": "x", "split": "train"}]
    )
    with pytest.raises(InputError, match=r"bad.jsonl: line 1: lang"):
        read_pool(bad)


def test_stage_runs_on_a_tiny_local_model(tiny_model_dir, tmp_path):
    cfg = EngineConfig(
        local=LocalBackendConfig(model=str(tiny_model_dir), batch_size=8, device="cpu"),
        cache_dir=str(tmp_path / "cache"),
    )
    engine = build_engine(cfg, "rolegpt")
    metrics = run_rolegpt(
        make_pool(tmp_path / "pool.jsonl", POOL),
        make_profiles(tmp_path / "profiles"),
        tmp_path / "rolegpt.jsonl",
        RoleGPTConfig(n=2, sampling=Sampling(temperature=0.7, max_new_tokens=6)),
        engine,
    )
    assert metrics["pairs"] == 2 and engine.stats.cache_misses == 4
    assert metrics["written"] + metrics["excluded_pairs"] == 2
    assert len(read_jsonl(tmp_path / "rolegpt.jsonl")) == metrics["written"]
