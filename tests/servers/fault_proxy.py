"""An HTTP proxy that injects faults in front of an OpenAI-compatible server.

Faults, chosen per request with a seeded RNG: 429 with Retry-After, 500, a timeout (the
connection is held silent), a dropped connection, and a 200 with a non-JSON body. Every
request that reaches the upstream server and returns to the client is counted by body, so a
test can assert that no call was lost or paid twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from collections import Counter

import httpx

FAULTS = ("429", "500", "timeout", "drop", "garbage")


class FaultProxy:
    def __init__(self, upstream: str, rate: float = 0.2, seed: int = 0, hold_s: float = 5.0):
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.rng = random.Random(seed)
        self.hold_s = hold_s
        self.faults: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()  # body hash -> successful upstream replies
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._client = httpx.AsyncClient(timeout=120)
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int({k.lower(): v for k, v in headers.items()}.get("content-length", 0))
            body = await reader.readexactly(length) if length else b""
            fault = self._pick()
            if fault:
                self.faults[fault] += 1
                await self._inject(fault, writer)
                return
            resp = await self._client.request(
                method,
                self.upstream + path,
                content=body,
                headers={"content-type": "application/json"},
            )
            if resp.status_code == 200:
                self.delivered[hashlib.sha256(body).hexdigest()] += 1
            await _respond(writer, resp.status_code, resp.content, "application/json")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _pick(self) -> str | None:
        return self.rng.choice(FAULTS) if self.rng.random() < self.rate else None

    async def _inject(self, fault: str, writer: asyncio.StreamWriter) -> None:
        if fault == "429":
            err = b'{"error": {"message": "rate limited", "type": "rate_limit"}}'
            await _respond(writer, 429, err, "application/json", {"Retry-After": "1"})
        elif fault == "500":
            await _respond(writer, 500, b'{"error": {"message": "boom"}}', "application/json")
        elif fault == "timeout":
            await asyncio.sleep(self.hold_s)
        elif fault == "garbage":
            await _respond(writer, 200, b"<html>upstream hiccup</html>", "application/json")
        # "drop": close without a response


async def _respond(writer, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "X")
    head = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
