"""A real OpenAI-compatible chat server (HTTP on 127.0.0.1) whose replies are scripted.

``ScriptedServer(script)`` answers every ``POST /v1/chat/completions`` with
``script(messages)`` as the assistant's text and records each request body, so a test can
check what was asked. It runs an asyncio server in a daemon thread (keep-alive connections,
as the openai client uses them)::

    with ScriptedServer(prefer_marker("MODEL")) as server:
        ...  # point an OpenAI-compatible client at server.base_url
        server.requests  # [{"model": ..., "messages": [...], ...}, ...]

Scripts for a pairwise judge whose prompt holds two tagged answers (A, then B):
``prefer_position("A")`` always names A; ``prefer_marker(text)`` names the position whose
answer contains ``text`` (a tie when both or neither do).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from tests.servers.http import BackgroundServer, chat_completion, http_response, read_request

Script = Callable[[list[dict[str, str]]], str]


def _verdict(winner: str) -> str:
    return json.dumps({"reason": f"scripted: {winner}", "winner": winner})


def prefer_position(label: str) -> Script:
    return lambda messages: _verdict(label)


def prefer_marker(marker: str, a_tag: str = "[Answer A]", b_tag: str = "[Answer B]") -> Script:
    def script(messages: list[dict[str, str]]) -> str:
        text = messages[-1]["content"]
        start_a, start_b = text.index(a_tag), text.index(b_tag)
        in_a = marker in text[start_a:start_b]
        in_b = marker in text[start_b:]
        return _verdict("A" if in_a and not in_b else "B" if in_b and not in_a else "tie")

    return script


class ScriptedServer(BackgroundServer):
    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.requests: list[dict] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _, path, _, body = await read_request(reader)
                status, payload = self._reply(path, body)
                writer.write(http_response(status, payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _reply(self, path: str, body: bytes) -> tuple[int, bytes]:
        if not path.rstrip("/").endswith("/chat/completions"):
            return 404, b'{"error": {"message": "not found"}}'
        request = json.loads(body)
        self.requests.append(request)
        text = self.script(request["messages"])
        model = request.get("model", "scripted")
        return 200, chat_completion(text, model, f"scripted-{len(self.requests)}")
