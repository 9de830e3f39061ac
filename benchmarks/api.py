"""Benchmark: the engine's OpenAI-compatible client against a server with 250 ms latency.

The ideal at concurrency C and latency L is C / L requests per second; efficiency is the
achieved rate over that ideal (cold cache, so every request is a real round trip and a
cache write). Prints one JSON line last.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rolellm.engine.config import EngineConfig, OpenAIBackendConfig
from rolellm.engine.engine import build_engine
from rolellm.engine.types import ChatRequest
from rolellm.sections import Sampling

CONCURRENCY = 32
LATENCY_S = 0.25
REQUESTS = 1280


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int) -> None:
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mock server did not start")


def main() -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.mock_openai", str(port), str(LATENCY_S)]
    )
    try:
        _wait_ready(port)
        base = f"http://127.0.0.1:{port}/v1"
        httpx.post(base + "/chat/completions", json={"messages": [{"content": "warm"}]})
        with tempfile.TemporaryDirectory() as tmp:
            cfg = EngineConfig(
                backend="openai",
                cache_dir=str(Path(tmp)),
                openai=OpenAIBackendConfig(base_url=base, model="mock", concurrency=CONCURRENCY),
            )
            engine = build_engine(cfg, "api-bench")
            requests = [
                ChatRequest.of(
                    [{"role": "user", "content": f"question {i}"}],
                    sampling=Sampling(max_new_tokens=8),
                )
                for i in range(REQUESTS)
            ]
            start = time.perf_counter()
            results = engine.generate(requests)
            seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    assert all(r.ok for r in results), "some requests failed"
    achieved = REQUESTS / seconds
    ideal = CONCURRENCY / LATENCY_S
    print(
        json.dumps(
            {
                "efficiency": round(achieved / ideal, 3),
                "achieved_rps": round(achieved, 1),
                "ideal_rps": ideal,
                "requests": REQUESTS,
                "concurrency": CONCURRENCY,
                "latency_s": LATENCY_S,
                "cache_misses": engine.stats.cache_misses,
            }
        )
    )


if __name__ == "__main__":
    main()
