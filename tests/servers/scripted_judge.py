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
import threading
import time
from collections.abc import Callable

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


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._serve, daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                status, payload = self._reply(path, body)
                writer.write(_http(status, payload))
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
        reply = {
            "id": f"scripted-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "scripted"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return 200, json.dumps(reply).encode()


def _http(status: int, payload: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found"}.get(status, "X")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload
