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
from collections import Counter

import httpx

from tests.servers.http import BackgroundServer, http_response, read_request

FAULTS = ("429", "500", "timeout", "drop", "garbage")


class FaultProxy(BackgroundServer):
    def __init__(self, upstream: str, rate: float = 0.2, seed: int = 0, hold_s: float = 5.0):
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.rng = random.Random(seed)
        self.hold_s = hold_s
        self.faults: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()  # body hash -> successful upstream replies

    def _started(self) -> None:
        self._client = httpx.AsyncClient(timeout=120)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _, body = await read_request(reader)
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
            await _send(writer, resp.status_code, resp.content)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _pick(self) -> str | None:
        return self.rng.choice(FAULTS) if self.rng.random() < self.rate else None

    async def _inject(self, fault: str, writer: asyncio.StreamWriter) -> None:
        if fault == "429":
            err = b'{"error": {"message": "rate limited", "type": "rate_limit"}}'
            await _send(writer, 429, err, {"Retry-After": "1"})
        elif fault == "500":
            await _send(writer, 500, b'{"error": {"message": "boom"}}')
        elif fault == "timeout":
            await asyncio.sleep(self.hold_s)
        elif fault == "garbage":
            await _send(writer, 200, b"<html>upstream hiccup</html>")
        # "drop": close without a response


async def _send(writer, status: int, body: bytes, extra: dict | None = None) -> None:
    writer.write(http_response(status, body, extra, keep_alive=False))
    await writer.drain()
