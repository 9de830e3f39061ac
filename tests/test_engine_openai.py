"""The engine's OpenAI-compatible backend against a real `transformers serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from rolellm.engine.config import EngineConfig, OpenAIBackendConfig
from rolellm.engine.engine import build_engine
from rolellm.engine.types import ChatRequest
from rolellm.sections import Sampling
from tests.servers.fault_proxy import FaultProxy

PROMPTS = [f"Give one short sentence about the number {i}." for i in range(16)]


def _requests(max_new_tokens=12):
    sampling = Sampling(max_new_tokens=max_new_tokens)
    return [ChatRequest.of([{"role": "user", "content": p}], sampling=sampling) for p in PROMPTS]


def _engine(base_url, model, cache_dir, name, **overrides):
    settings = dict(
        base_url=base_url,
        model=model,
        concurrency=4,
        timeout_s=15.0,
        backoff_base_s=0.05,
        backoff_max_s=0.5,
    )
    settings.update(overrides)
    cfg = EngineConfig(
        backend="openai", openai=OpenAIBackendConfig(**settings), cache_dir=str(cache_dir)
    )
    return build_engine(cfg, name)


def test_openai_backend_answers_and_caches(openai_server, tmp_path):
    engine = _engine(openai_server["base_url"], openai_server["model"], tmp_path, "a")
    first = engine.generate(_requests()[:4])
    assert all(r.ok and r.texts[0] for r in first), [r.errors for r in first]
    assert engine.stats.cache_misses == 4
    again = engine.generate(_requests()[:4])
    assert [r.texts for r in again] == [r.texts for r in first]
    assert engine.stats.cache_hits == 4


def test_faults_at_20_percent_give_identical_results(openai_server, tmp_path):
    clean = _engine(openai_server["base_url"], openai_server["model"], tmp_path / "clean", "c")
    expected = [r.texts for r in clean.generate(_requests())]
    with FaultProxy(
        openai_server["base_url"].removesuffix("/v1"), rate=0.2, seed=3, hold_s=16.0
    ) as proxy:
        faulty = _engine(
            proxy.base_url, openai_server["model"], tmp_path / "faulty", "f", concurrency=2
        )
        got = [r.texts for r in faulty.generate(_requests())]
    assert got == expected
    assert sum(proxy.faults.values()) >= 3, proxy.faults  # faults really happened
    assert len(proxy.delivered) == len(PROMPTS)  # every call answered once ...
    assert set(proxy.delivered.values()) == {1}  # ... and none paid twice
    assert faulty.stats.cache_misses == len(PROMPTS) and faulty.stats.errors == 0
    assert faulty.backend.retries >= sum(proxy.faults.values())


def test_client_errors_fail_at_once_with_the_server_message(openai_server, tmp_path):
    engine = _engine(openai_server["base_url"].replace("/v1", "/nope"), "m", tmp_path, "e")
    [result] = engine.generate(_requests()[:1])
    assert not result.ok and result.errors[0].startswith("HTTP 404")
    assert engine.backend.retries == 0


def test_unreachable_server_is_reported_after_bounded_retries(tmp_path):
    engine = _engine("http://127.0.0.1:9/v1", "m", tmp_path, "u", max_retries=2)
    [result] = engine.generate(_requests()[:1])
    assert "gave up after 3 attempts: APIConnectionError" in result.errors[0]


CRASH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from rolellm.engine.config import EngineConfig, OpenAIBackendConfig
    from rolellm.engine.engine import build_engine
    from tests.test_engine_openai import _requests
    cfg = EngineConfig(backend="openai", cache_dir=sys.argv[3],
        openai=OpenAIBackendConfig(base_url=sys.argv[1], model=sys.argv[2], concurrency=1))
    engine = build_engine(cfg, "crash")
    results = engine.generate(_requests(max_new_tokens=16))
    print(json.dumps({"texts": [r.texts for r in results], "stats": engine.stats.as_dict()}))
    """
)


def _cached_rows(path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_batch_loses_no_completed_call(openai_server, tmp_path):
    args = [openai_server["base_url"], openai_server["model"]]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-c", CRASH_SCRIPT]
    victim = subprocess.Popen(
        [*cmd, *args, str(tmp_path / "k")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "k" / "crash.sqlite"
    deadline = time.time() + 900
    while _cached_rows(db) < 4 and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done_before = _cached_rows(db)
    assert 4 <= done_before < len(PROMPTS)

    rerun = subprocess.run(
        [*cmd, *args, str(tmp_path / "k")], env=env, capture_output=True, text=True, check=True
    )
    resumed = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert resumed["stats"]["cache_hits"] == done_before
    assert resumed["stats"]["cache_misses"] == len(PROMPTS) - done_before

    reference = _engine(openai_server["base_url"], openai_server["model"], tmp_path / "r", "r")
    expected = [r.texts for r in reference.generate(_requests(max_new_tokens=16))]
    assert resumed["texts"] == expected
