"""A minimal OpenAI-compatible chat server with a fixed latency per request.

Replies are cheap (a hash of the last message), so what a benchmark measures is the client.
Run in its own process: `python -m tests.servers.mock_openai PORT LATENCY_S`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from tests.servers.http import chat_completion, http_response, read_request


async def _handle(reader, writer, latency: float) -> None:
    try:
        while True:
            _, _, _, body = await read_request(reader)
            request = json.loads(body) if body else {}
            await asyncio.sleep(latency)
            last = (request.get("messages") or [{"content": ""}])[-1]["content"]
            text = "reply " + hashlib.sha256(last.encode()).hexdigest()[:12]
            writer.write(
                http_response(200, chat_completion(text, request.get("model", "mock"), "mock"))
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, latency), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2])))
