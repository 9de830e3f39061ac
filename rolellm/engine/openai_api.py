"""OpenAI-compatible backend: the official `openai` client, async, bounded concurrency.

Retries 429, 5xx, timeouts, dropped connections and unparseable bodies with exponential
backoff and jitter, honouring Retry-After. Client errors (400, 401, 404...) fail the call at
once with the server's message. The key is read from the environment variable named in
params, never from params itself.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

import httpx
import openai

from rolellm.engine.config import OpenAIBackendConfig
from rolellm.engine.progress import progress_bar
from rolellm.engine.types import Call

Done = Callable[[int, str | None, str | None], None]


class GarbageReply(Exception):
    """The server answered 2xx with something that is not a chat completion."""


class OpenAIBackend:
    kind = "openai"

    def __init__(self, cfg: OpenAIBackendConfig):
        self.cfg = cfg
        self.identity = f"{cfg.model}"
        self.retries = 0

    def _client(self) -> openai.AsyncOpenAI:
        key = os.environ.get(self.cfg.api_key_env) or "EMPTY"  # local servers need no key
        return openai.AsyncOpenAI(
            base_url=self.cfg.base_url,
            api_key=key,
            max_retries=0,
            timeout=self.cfg.timeout_s,
            http_client=httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=self.cfg.concurrency,
                    max_keepalive_connections=self.cfg.concurrency,
                ),
                timeout=self.cfg.timeout_s,
            ),
        )

    def decoding(self, call: Call) -> str | None:
        """response_format json_schema asks the server to constrain the reply."""
        structured = call.request.reply_model is not None and self.cfg.structured_output
        return "json_schema" if structured else None

    def run(self, calls: list[Call], done: Done) -> None:
        if calls:
            asyncio.run(self._run_all(calls, done))

    async def _run_all(self, calls: list[Call], done: Done) -> None:
        gate = asyncio.Semaphore(self.cfg.concurrency)
        client = self._client()
        try:
            with progress_bar(len(calls), f"generating ({self.cfg.model})") as advance:

                async def one(index: int, call: Call) -> None:
                    async with gate:
                        text, error = await self._with_retries(client, call)
                    done(index, text, error)
                    advance(1)

                await asyncio.gather(*(one(i, c) for i, c in enumerate(calls)))
        finally:
            await client.close()

    async def _with_retries(
        self, client: openai.AsyncOpenAI, call: Call
    ) -> tuple[str | None, str | None]:
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            try:
                return await self._complete(client, call), None
            except openai.APIStatusError as err:
                if not _retryable_status(err.status_code):
                    return None, f"HTTP {err.status_code} from {self.cfg.base_url}: {_message(err)}"
                last, wait = f"HTTP {err.status_code}", _retry_after(err.response)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                last, wait = type(err).__name__, None
            except (GarbageReply, openai.APIResponseValidationError, ValueError) as err:
                last, wait = f"unparseable reply ({err})", None
            if attempt < self.cfg.max_retries:
                self.retries += 1
                await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
        return None, f"gave up after {self.cfg.max_retries + 1} attempts: {last}"

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)

    async def _complete(self, client: openai.AsyncOpenAI, call: Call) -> str:
        req, sp = call.request, call.request.sampling
        extra = {}
        if self.cfg.send_seed:
            extra["seed"] = call.seed
        if req.reply_model is not None and self.cfg.structured_output:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": req.reply_model.__name__, "schema": req.reply_schema},
            }
        resp = await client.chat.completions.create(
            model=self.cfg.model,
            messages=list(req.messages),
            temperature=sp.temperature,
            top_p=sp.top_p,
            max_tokens=sp.max_new_tokens,
            n=1,
            **extra,
        )
        try:
            text = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise GarbageReply(f"{type(resp).__name__} without choices") from None
        if not isinstance(text, str):
            raise GarbageReply("reply without text content")
        return text.strip()


def _retryable_status(code: int) -> bool:
    return code in (408, 409, 425, 429) or code >= 500


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    try:
        return min(float(value), 600.0) if value else None
    except ValueError:
        return None


def _message(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:200]
    return str(err.message)[:200]
