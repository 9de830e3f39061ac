"""Requests and replies of the engine. Everything a request carries enters its cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, create_model

from rolellm.sections import Sampling


@dataclass(frozen=True)
class ChatRequest:
    """One chat to complete `n` times. Sample i uses a seed derived from (seed, i).

    `reply_model`, when set, asks for a JSON reply that must validate against that pydantic
    model; invalid replies are retried a bounded number of times with fresh seeds. `lang`
    routes the request (en | zh; see Engine.routes); it is not part of the cache key, the
    model that answers it is.
    """

    messages: tuple[dict[str, str], ...]
    sampling: Sampling = Sampling()
    seed: int = 0
    n: int = 1
    reply_model: type[BaseModel] | None = field(default=None, compare=False)
    lang: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, messages: list[dict[str, str]], **kwargs: Any) -> ChatRequest:
        return cls(
            messages=tuple({"role": m["role"], "content": m["content"]} for m in messages), **kwargs
        )

    @property
    def reply_schema(self) -> dict | None:
        return self.reply_model.model_json_schema() if self.reply_model else None


@dataclass(frozen=True)
class Call:
    """One sample of one request: the unit that is sent, cached and retried."""

    request: ChatRequest
    sample: int
    attempt: int = 0

    @property
    def seed(self) -> int:
        digest = hashlib.sha256(
            f"{self.request.seed}/{self.sample}/{self.attempt}".encode()
        ).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def key(self, backend: str, model: str, decoding: str | None = None) -> str:
        """The cache key. `decoding` names a way of decoding that changes the reply for the
        same inputs (a schema constraint); None leaves the key as it always was."""
        req = self.request
        payload = {
            "v": 1,
            "backend": backend,
            "model": model,
            "messages": list(req.messages),
            "sampling": [req.sampling.temperature, req.sampling.top_p, req.sampling.max_new_tokens],
            "seed": req.seed,
            "sample": self.sample,
            "attempt": self.attempt,
            "schema": req.reply_schema,
        }
        if decoding:
            payload["decoding"] = decoding
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Reply:
    text: str | None
    error: str | None = None
    parsed: BaseModel | None = None
    from_cache: bool = False
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChatResult:
    request: ChatRequest
    replies: tuple[Reply, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.replies)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies if r.ok and r.text is not None]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.replies if r.error]


@cache
def at_most(model: type[BaseModel], items: str, most: int) -> type[BaseModel]:
    """`model` whose JSON schema allows at most `most` entries in its list field `items`.

    Validation is unchanged (a served model that writes one more is not failed for it); the
    schema bound is what a constrained decoder follows, so a small model asked for k items
    stops after k instead of running into the token limit.
    """
    info = model.model_fields[items]
    extra = {**(info.json_schema_extra or {}), "maxItems": most}  # type: ignore[dict-item]
    bounded = info.merge_field_infos(info, json_schema_extra=extra)
    fields = {items: (info.annotation, bounded)}
    return create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)
