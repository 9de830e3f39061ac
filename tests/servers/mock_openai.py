"""A minimal OpenAI-compatible chat server with a fixed latency per request.

Replies are cheap (an echo of the last user message's hash), so what a benchmark measures is
the client. Run in its own process: `python -m tests.servers.mock_openai PORT LATENCY_S`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time


async def _handle(reader, writer, latency: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            await asyncio.sleep(latency)
            writer.write(_response(body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _response(request: dict) -> bytes:
    last = (request.get("messages") or [{"content": ""}])[-1]["content"]
    text = "reply " + hashlib.sha256(last.encode()).hexdigest()[:12]
    payload = json.dumps(
        {
            "id": "mock",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "mock"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload


async def serve(port: int, latency: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, latency), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2])))
