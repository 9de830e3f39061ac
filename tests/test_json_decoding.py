"""Schema-constrained JSON decoding (rolellm/engine/json_decoding.py) on a tiny random model:
what it writes cannot break the schema, free rows beside it stay free, the cache tells the
two decodings apart."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.engine import build_engine
from rolellm.engine.json_decoding import closed_objects
from rolellm.engine.types import Call, ChatRequest, at_most
from rolellm.sections import Sampling

SAMPLED = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=48)


class Pick(BaseModel):
    winner: Literal["A", "B", "tie"]
    note: Annotated[str, Field(json_schema_extra={"maxLength": 12})] = ""


def _json_requests(n: int = 2) -> list[ChatRequest]:
    questions = ["Which is better, A or B?", "Pick one.", "A or B, and why, in a word?"]
    return [
        ChatRequest.of(
            [{"role": "user", "content": q}], sampling=SAMPLED, seed=i, n=n, reply_model=Pick
        )
        for i, q in enumerate(questions)
    ]


def _free_request() -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": "Say anything."}], sampling=SAMPLED, seed=9)


def _engine(model_dir, tmp_path, name: str, constrained: bool = True, batch_size: int = 8):
    local = LocalBackendConfig(
        model=str(model_dir), constrained_json=constrained, batch_size=batch_size
    )
    cfg = EngineConfig(local=local, json_retries=0, cache_dir=str(tmp_path / name))
    return build_engine(cfg, name)


def test_a_random_model_writes_valid_json_only_when_constrained(tiny_model_dir, tmp_path):
    constrained = _engine(tiny_model_dir, tmp_path, "on").generate(_json_requests())
    replies = [reply for result in constrained for reply in result.replies]
    assert len(replies) == 6
    assert all(reply.parsed is not None for reply in replies), [r.error for r in replies]
    assert {reply.parsed.winner for reply in replies} <= {"A", "B", "tie"}

    free = _engine(tiny_model_dir, tmp_path, "off", constrained=False).generate(_json_requests())
    assert all(reply.parsed is None for result in free for reply in result.replies)


def test_constrained_replies_do_not_depend_on_the_batch(tiny_model_dir, tmp_path):
    requests = [*_json_requests(), _free_request()]
    batched = _engine(tiny_model_dir, tmp_path, "batched").generate(requests)
    alone = _engine(tiny_model_dir, tmp_path, "alone", batch_size=1).generate(requests)
    assert [r.texts for r in batched] == [r.texts for r in alone]


def test_a_free_row_beside_json_rows_is_not_masked(tiny_model_dir, tmp_path):
    mixed = _engine(tiny_model_dir, tmp_path, "mixed").generate(
        [*_json_requests(), _free_request()]
    )
    plain = _engine(tiny_model_dir, tmp_path, "plain", constrained=False)
    assert mixed[-1].texts == plain.generate([_free_request()])[0].texts
    assert not mixed[-1].texts[0].startswith("{")


def test_the_cache_key_names_a_constrained_decoding(tiny_model_dir, tmp_path):
    call = Call(_json_requests()[0], 0)
    assert call.key("local", "m") == call.key("local", "m", None)  # free keys as they were
    assert call.key("local", "m", "json_schema") != call.key("local", "m")
    on = _engine(tiny_model_dir, tmp_path, "shared")
    first = on.generate(_json_requests())
    on.close()
    off = _engine(tiny_model_dir, tmp_path, "shared", constrained=False)
    again = off.generate(_json_requests())
    assert off.stats.cache_hits == 0  # a free decoding never reuses a constrained reply
    assert [r.texts for r in first] != [r.texts for r in again]


def test_objects_are_closed_unless_the_schema_says_otherwise():
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "$defs": {
            "Item": {"type": "object", "properties": {"q": {"type": "string"}}},
            "Open": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    closed = closed_objects(schema)
    assert closed["additionalProperties"] is False
    assert closed["$defs"]["Item"]["additionalProperties"] is False
    assert closed["$defs"]["Open"]["additionalProperties"] is True
    assert "additionalProperties" not in schema  # the caller's schema is not changed


def test_at_most_bounds_the_schema_not_the_validation():
    class Reply(BaseModel):
        items: list[Pick]

    bounded = at_most(Reply, "items", 2)
    assert bounded.model_json_schema()["properties"]["items"]["maxItems"] == 2
    assert len(bounded.model_validate({"items": [{"winner": "A"}] * 3}).items) == 3
    assert at_most(Reply, "items", 2) is bounded and bounded.__name__ == "Reply"
