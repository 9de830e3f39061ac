"""The engine with the local transformers backend, on a tiny random model and on SmolLM2."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from rolellm.engine.cache import ReplyCache
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.engine import Engine, build_engine
from rolellm.engine.local import LocalBackend
from rolellm.engine.types import Call, ChatRequest
from rolellm.sections import Sampling

QUESTIONS = [
    "Who are you?",
    "Tell me about the ghost you saw on the battlements last night, in detail.",
    "Why?",
    "What is the weather like in Denmark during the long winter months?",
    "Do you love Ophelia?",
]
SAMPLED = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=12)


def _requests(sampling=SAMPLED, n=1, seed=7):
    return [
        ChatRequest.of([{"role": "user", "content": q}], sampling=sampling, seed=seed + i, n=n)
        for i, q in enumerate(QUESTIONS)
    ]


def _engine(model_dir, tmp_path, batch_size=8, name="t"):
    cfg = EngineConfig(
        local=LocalBackendConfig(model=str(model_dir), batch_size=batch_size),
        cache_dir=str(tmp_path / "cache"),
    )
    return build_engine(cfg, name)


def test_sampled_replies_do_not_depend_on_batch_composition(tiny_model_dir, tmp_path):
    batched = _engine(tiny_model_dir, tmp_path, batch_size=8, name="a").generate(_requests())
    alone = _engine(tiny_model_dir, tmp_path, batch_size=1, name="b").generate(_requests())
    reversed_order = _engine(tiny_model_dir, tmp_path, batch_size=3, name="c").generate(
        _requests()[::-1]
    )
    texts = [r.texts for r in batched]
    assert texts == [r.texts for r in alone]
    assert texts == [r.texts for r in reversed_order][::-1]
    assert all(len(t) == 1 and t[0] for t in texts)


def test_samples_of_one_prompt_share_its_prefill_and_reply_as_alone(
    tiny_model_dir, tmp_path, monkeypatch
):
    from rolellm.engine import hf_model

    prefills = []
    real = hf_model._prefill

    def spy(model, enc, rows):
        prefills.append((enc["input_ids"].shape[0], len(rows)))
        return real(model, enc, rows)

    monkeypatch.setattr(hf_model, "_prefill", spy)
    shared = _engine(tiny_model_dir, tmp_path, batch_size=8, name="a").generate(_requests(n=4))
    alone = _engine(tiny_model_dir, tmp_path, batch_size=1, name="b").generate(_requests(n=4))
    assert [r.texts for r in shared] == [r.texts for r in alone]
    assert prefills and all(unique < rows for unique, rows in prefills)
    assert sum(rows for _, rows in prefills) == 20  # every sampled row reused a shared prefill


def test_samples_differ_by_index_and_seed(tiny_model_dir, tmp_path):
    engine = _engine(tiny_model_dir, tmp_path)
    [result] = engine.generate(_requests(n=4)[:1])
    assert len(result.replies) == 4
    assert len(set(result.texts)) > 1  # four seeds, not one sample copied four times
    [other_seed] = engine.generate(_requests(n=4, seed=1000)[:1])
    assert other_seed.texts != result.texts


def test_batches_sorted_by_length_and_grouped_by_sampling(tiny_model_dir, tmp_path):
    backend = LocalBackend(LocalBackendConfig(model=str(tiny_model_dir), batch_size=2))
    greedy = Sampling(max_new_tokens=5)
    calls = [Call(r, 0) for r in _requests()] + [Call(r, 0) for r in _requests(greedy)]
    prompts = {i: backend.render(c) for i, c in enumerate(calls)}
    batches = backend._batches(calls, prompts)
    assert sorted(i for b in batches for i in b) == list(range(len(calls)))
    for batch in batches:
        assert len(batch) <= 2
        assert len({calls[i].request.sampling for i in batch}) == 1
    lengths = [[len(prompts[i]) for i in b] for b in batches]
    assert all(row == sorted(row) for row in lengths)


def test_cache_serves_second_run_without_loading_model(tiny_model_dir, tmp_path):
    first = _engine(tiny_model_dir, tmp_path)
    expected = [r.texts for r in first.generate(_requests(n=2))]
    assert first.stats.cache_misses == 10 and first.stats.cache_hits == 0
    first.close()
    second = _engine(tiny_model_dir, tmp_path)
    again = [r.texts for r in second.generate(_requests(n=2))]
    assert again == expected
    assert second.stats.cache_hits == 10 and second.stats.cache_misses == 0
    assert second.backend._loaded is None  # all cached: the model was never loaded
    assert all(rep.from_cache for r in second.generate(_requests()[:1]) for rep in r.replies)


def test_cache_key_covers_every_parameter():
    base = ChatRequest.of([{"role": "user", "content": "hi"}])
    variants = [
        ChatRequest.of([{"role": "user", "content": "hi!"}]),
        ChatRequest.of([{"role": "system", "content": "hi"}]),
        ChatRequest.of([{"role": "user", "content": "hi"}], seed=1),
        ChatRequest.of([{"role": "user", "content": "hi"}], sampling=Sampling(temperature=0.5)),
        ChatRequest.of([{"role": "user", "content": "hi"}], sampling=Sampling(top_p=0.9)),
        ChatRequest.of([{"role": "user", "content": "hi"}], sampling=Sampling(max_new_tokens=9)),
    ]
    key = Call(base, 0).key("local", "m")
    keys = {Call(v, 0).key("local", "m") for v in variants}
    keys |= {Call(base, 1).key("local", "m"), Call(base, 0, 1).key("local", "m")}
    keys |= {Call(base, 0).key("openai", "m"), Call(base, 0).key("local", "other-model")}
    assert key not in keys and len(keys) == len(variants) + 4


class Verdict(BaseModel):
    name: str
    score: int


class ScriptedBackend:
    """Replies from a list in order: drives the engine's JSON-retry logic deterministically."""

    kind = "scripted"
    identity = "scripted-v1"

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = 0

    def decoding(self, call):
        return None  # free decoding: the engine validates and retries

    def run(self, calls, done):
        for i, _ in enumerate(calls):
            self.sent += 1
            done(i, self.replies.pop(0), None)


def test_invalid_json_is_retried_then_reported(tmp_path):
    request = ChatRequest.of([{"role": "user", "content": "judge"}], reply_model=Verdict)
    backend = ScriptedBackend(["no json here", '```json\n{"name": "x", "score": 3}\n```'])
    engine = Engine(backend, ReplyCache(tmp_path / "c.sqlite"), json_retries=3)
    [result] = engine.generate([request])
    assert result.ok and result.replies[0].parsed == Verdict(name="x", score=3)
    assert result.replies[0].attempts == 2 and engine.stats.invalid_json == 1

    bad = ChatRequest.of([{"role": "user", "content": "again"}], reply_model=Verdict)
    engine2 = Engine(ScriptedBackend(['{"name": 1}'] * 3), ReplyCache(tmp_path / "d.sqlite"), 2)
    [failed] = engine2.generate([bad])
    assert not failed.ok
    assert "not valid Verdict JSON after 3 attempts" in failed.errors[0]

    # the paid-for attempts are cached: a rerun sends nothing
    rerun = Engine(ScriptedBackend([]), ReplyCache(tmp_path / "c.sqlite"), json_retries=3)
    [again] = rerun.generate([request])
    assert again.replies[0].parsed == Verdict(name="x", score=3) and rerun.backend.sent == 0


def test_prompt_over_the_limit_is_a_per_request_error(tiny_model_dir, tmp_path):
    cfg = EngineConfig(
        local=LocalBackendConfig(model=str(tiny_model_dir), max_input_tokens=40),
        cache_dir=str(tmp_path),
    )
    results = build_engine(cfg, "x").generate(_requests(Sampling(max_new_tokens=3)))
    errors = [r.errors for r in results]
    assert any("over engine.local.max_input_tokens" in e[0] for e in errors if e)
    assert any(r.ok for r in results)  # short prompts still answered


def test_missing_model_folder_is_one_clear_error(tmp_path):
    from rolellm.errors import InputError

    cfg = EngineConfig(
        local=LocalBackendConfig(model=str(tmp_path / "nope")), cache_dir=str(tmp_path)
    )
    engine = build_engine(cfg, "x")
    with pytest.raises(InputError, match="engine.local.model: model folder .* not found"):
        engine.generate(_requests()[:1])


def test_smollm2_answers_in_character(smollm2_dir, tmp_path):
    engine = _engine(smollm2_dir, tmp_path)
    system = (
        "I want you to act like Hamlet from Shakespeare's play Hamlet. Respond as Hamlet would."
    )
    request = ChatRequest.of(
        [
            {"role": "system", "content": system},
            {"role": "user", "content": "Tell me who you are and where you live."},
        ],
        sampling=Sampling(max_new_tokens=40),
    )
    [result] = engine.generate([request])
    reply = result.texts[0]
    assert "hamlet" in reply.lower() and " i am " in f" {reply.lower()} ", reply
    assert "assistant" not in reply.lower() and "language model" not in reply.lower()


class EchoBackend(ScriptedBackend):
    """Answers every call with its own name; counts what it was sent."""

    def __init__(self, name):
        super().__init__([])
        self.identity = name

    def run(self, calls, done):
        for i, _ in enumerate(calls):
            self.sent += 1
            done(i, self.identity, None)


def test_requests_of_a_routed_language_go_to_their_own_model(tmp_path):
    english, chinese = EchoBackend("smollm2"), EchoBackend("gemma3")
    engine = Engine(english, ReplyCache(tmp_path / "c.sqlite"), routes={"zh": chinese})
    asks = [
        ChatRequest.of([{"role": "user", "content": "你是谁？"}], lang="zh", n=2),
        ChatRequest.of([{"role": "user", "content": "Who are you?"}], lang="en"),
        ChatRequest.of([{"role": "user", "content": "Who are you?"}]),  # no language: default
    ]
    results = engine.generate(asks)
    assert [r.texts for r in results] == [["gemma3", "gemma3"], ["smollm2"], ["smollm2"]]
    assert (chinese.sent, english.sent) == (2, 2)
    # the answering model is in the cache key: the same chat asked in both routes is two keys
    call = Call(asks[0], 0)
    assert call.key("scripted", "gemma3") != call.key("scripted", "smollm2")
    again = Engine(
        EchoBackend("smollm2"), ReplyCache(tmp_path / "c.sqlite"), routes={"zh": chinese}
    )
    assert [r.texts for r in again.generate(asks)] == [r.texts for r in results]
    assert again.stats.cache_misses == 0 and chinese.sent == 2


def test_build_engine_routes_chinese_only_to_a_distinct_model(tmp_path):
    def engine(**local):
        cfg = EngineConfig(local=LocalBackendConfig(**local), cache_dir=str(tmp_path))
        return build_engine(cfg, "r")

    routed = engine(model="models/smollm2", model_zh="models/gemma3-270m")
    assert routed.routes["zh"].cfg.model == "models/gemma3-270m"
    assert routed.backend.cfg.model == "models/smollm2"
    assert engine(model="m", model_zh="m").routes == {} == engine(model="m").routes


def test_embedded_model_is_converted_once_per_user_then_linked(smollm2_dir, tmp_path):
    from filecmp import cmp

    from rolellm.engine.embedded import SMOLLM2, cache_folder, materialise_embedded_model

    first = materialise_embedded_model(tmp_path / "a" / "smollm2")
    cached = cache_folder(SMOLLM2)
    again = materialise_embedded_model(tmp_path / "b" / "smollm2")  # a second clone
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert cmp(first / name, cached / name, shallow=False)
        assert (again / name).stat().st_ino == (cached / name).stat().st_ino  # linked
        assert cmp(smollm2_dir / name, cached / name, shallow=False)  # the same conversion


class _Force:
    """A logits processor that makes the model write `tokens`, one per step."""

    def __init__(self, tokens):
        self.tokens = tokens

    def __call__(self, input_ids, scores):
        import torch

        step = min(len(self.tokens) - 1, input_ids.shape[1] - self.start)
        out = torch.full_like(scores, float("-inf"))
        out[:, self.tokens[step]] = 0.0
        return out


def test_a_reply_cut_inside_a_character_keeps_only_whole_characters(tiny_model_dir):
    from rolellm.engine.hf_model import generate_texts

    backend = LocalBackend(LocalBackendConfig(model=str(tiny_model_dir)))
    tokenizer, model = backend.tokenizer, backend.model
    char = tokenizer.encode("你", add_special_tokens=False)
    assert len(char) > 1  # SmolLM2's byte-level tokens: one Chinese character, several tokens
    prompt = tokenizer.encode("Hi", add_special_tokens=False)
    texts = []
    for cut in (1, len(char)):
        force = _Force(char + char)
        force.start = len(prompt)
        sampling = Sampling(max_new_tokens=cut)
        texts += generate_texts(tokenizer, model, [], [prompt], sampling, [0], [force])
    assert texts == ["", "你"]  # half a character is never returned
