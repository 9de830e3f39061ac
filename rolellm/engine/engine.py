"""The engine: look every call up in the cache, send only the misses, validate JSON replies.

A reply is written to the cache the moment it arrives (before validation), so nothing paid
for is ever lost; a JSON reply that does not validate is retried with the next attempt
number (a fresh seed and its own cache key), up to `json_retries` times, then reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from rolellm.engine.cache import ReplyCache
from rolellm.engine.config import EngineConfig
from rolellm.engine.types import Call, ChatRequest, ChatResult, Reply


class Backend(Protocol):
    kind: str
    identity: str

    def decoding(self, call: Call) -> str | None:
        """How this call is decoded when that changes the reply (part of its cache key)."""
        ...

    def run(self, calls: list[Call], done) -> None: ...


@dataclass
class EngineStats:
    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    errors: int = 0
    invalid_json: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Slot:
    request: int
    sample: int
    call: Call
    key: str = ""


class Engine:
    """`routes` sends the requests of one language (ChatRequest.lang) to a backend of their
    own (the embedded Chinese model); every other request goes to `backend`."""

    def __init__(
        self,
        backend: Backend,
        cache: ReplyCache,
        json_retries: int = 3,
        routes: dict[str, Backend] | None = None,
    ):
        self.backend = backend
        self.routes = dict(routes or {})
        self.cache = cache
        self.json_retries = json_retries
        self.stats = EngineStats()
        self.observers: list = []  # callables(call, from_cache): audits and benchmarks

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        self.stats.requests += len(requests)
        replies: dict[tuple[int, int], Reply] = {}
        todo = [_Slot(r, s, Call(req, s)) for r, req in enumerate(requests) for s in range(req.n)]
        while todo:
            todo = self._round(todo, replies)
        return [
            ChatResult(req, tuple(replies[(r, s)] for s in range(req.n)))
            for r, req in enumerate(requests)
        ]

    def backend_for(self, call: Call) -> Backend:
        return self.routes.get(call.request.lang or "", self.backend)

    def _round(self, todo: list[_Slot], replies: dict) -> list[_Slot]:
        """Serve one attempt of every slot; return the slots whose JSON must be retried."""
        for slot in todo:
            backend = self.backend_for(slot.call)
            decoding = backend.decoding(slot.call)
            slot.key = slot.call.key(backend.kind, backend.identity, decoding)
        self.stats.calls += len(todo)
        cached = self.cache.get_many([s.key for s in todo])
        retry: list[_Slot] = []
        misses: list[_Slot] = []
        for slot in todo:
            for observe in self.observers:
                observe(slot.call, slot.key in cached)
            if slot.key in cached:
                self.stats.cache_hits += 1
                self._settle(slot, cached[slot.key], None, True, replies, retry)
            else:
                misses.append(slot)
        self.stats.cache_misses += len(misses)
        for backend in (self.backend, *self.routes.values()):
            mine = [s for s in misses if self.backend_for(s.call) is backend]
            if mine:
                self._send(backend, mine, replies, retry)
        return retry

    def _send(self, backend: Backend, misses: list[_Slot], replies: dict, retry: list) -> None:
        def done(index: int, text: str | None, error: str | None) -> None:
            slot = misses[index]
            if text is not None:
                self.cache.put(slot.key, text)
            self._settle(slot, text, error, False, replies, retry)

        backend.run([s.call for s in misses], done)

    def _settle(self, slot, text, error, from_cache, replies, retry) -> None:
        call = slot.call
        attempts = call.attempt + 1
        if error is not None:
            self.stats.errors += 1
            replies[(slot.request, slot.sample)] = Reply(None, error, attempts=attempts)
            return
        model = call.request.reply_model
        if model is None:
            replies[(slot.request, slot.sample)] = Reply(text, None, None, from_cache, attempts)
            return
        parsed, problem = parse_json_reply(text, model)
        if parsed is not None:
            replies[(slot.request, slot.sample)] = Reply(text, None, parsed, from_cache, attempts)
            return
        self.stats.invalid_json += 1
        if call.attempt < self.json_retries:
            retry.append(
                _Slot(slot.request, slot.sample, Call(call.request, call.sample, attempts))
            )
            return
        error = f"reply is not valid {model.__name__} JSON after {attempts} attempts: {problem}"
        self.stats.errors += 1
        replies[(slot.request, slot.sample)] = Reply(text, error, None, from_cache, attempts)

    def write_metrics(self, path: str | Path) -> None:
        from rolellm.atomic import write_json

        write_json(path, self.stats.as_dict())

    def close(self) -> None:
        self.cache.close()


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON part of a reply: inside a ``` fence if any, else from the first { or [."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text.strip()
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    return text[start : end + 1] if end > start else text[start:]


def parse_json_reply(text: str, model: type[BaseModel]) -> tuple[BaseModel | None, str]:
    try:
        return model.model_validate_json(extract_json(text)), ""
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        return None, f"{where}: {first['msg']}"
    except (json.JSONDecodeError, ValueError) as err:
        return None, str(err)[:120]


def build_engine(cfg: EngineConfig, stage: str) -> Engine:
    """The engine for one pipeline stage; each stage keeps its own cache file (a DVC output)."""
    routes: dict[str, Backend] = {}
    if cfg.backend == "local":
        from rolellm.engine.local import LocalBackend

        backend: Backend = LocalBackend(cfg.local)
        zh = cfg.local.model_zh
        if zh and zh != cfg.local.model:
            update = {"model": zh, "revision": None, "adapter": None}
            routes["zh"] = LocalBackend(cfg.local.model_copy(update=update))
    else:
        from rolellm.engine.openai_api import OpenAIBackend

        backend = OpenAIBackend(cfg.openai)
    cache = ReplyCache(Path(cfg.cache_dir) / f"{stage}.sqlite")
    return Engine(backend, cache, cfg.json_retries, routes)
