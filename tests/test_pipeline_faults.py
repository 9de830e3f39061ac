"""Pipeline-wide reliability: the real `dvc repro` in fresh clones, under faults and kill -9.

* The generation stages (raw-scripts -> ... -> assemble) against a deterministic local
  OpenAI-compatible server give byte-identical RoleBench shards when every request goes
  through a proxy that injects 429s, 500s, timeouts, dropped connections and garbage.
* `dvc repro` killed (SIGKILL to the whole process group) in the middle of the rolegpt stage
  resumes from the reply cache: no completed call is paid twice.
* `dvc repro` killed in the middle of training resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides

from tests.clone import BIN, commit, make_clone
from tests.servers.fault_proxy import FaultProxy
from tests.servers.scripted_chat import ScriptedChatServer

KEY_ENV = "ROLELLM_FAULTS_TEST_KEY"
ENV = {
    **os.environ,
    "PATH": f"{BIN}:{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
    KEY_ENV: "dummy-not-a-secret",
    # tiny models: one thread each; on a busy 2-core machine more threads are 10x slower
    "OMP_NUM_THREADS": "1",
}


def _quick(root: Path) -> list[str]:
    return (root / "quick.args").read_text().split()


def configure(root: Path, *overrides: str) -> None:
    """The quick settings plus `overrides` written into the clone's params.yaml, committed."""
    apply_overrides(root / "params.yaml", [*_quick(root), *overrides])
    commit(root, "params")


def openai_overrides(base_url: str) -> list[str]:
    return [
        "engine.backend=openai",
        f"engine.openai.base_url={base_url}",
        "engine.openai.model=scripted",
        f"engine.openai.api_key_env={KEY_ENV}",
        "engine.openai.concurrency=8",
        "engine.openai.timeout_s=2.0",
        "engine.openai.backoff_base_s=0.05",
        "engine.openai.backoff_max_s=0.3",
    ]


def dvc(root: Path, *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        ["dvc", *args], cwd=root, env=ENV, capture_output=True, text=True, timeout=timeout
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"dvc {' '.join(args)}: {out[-4000:]}"
    return out


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def engine_stats(root: Path, stage: str) -> dict[str, int]:
    return json.loads((root / "metrics" / f"{stage}.json").read_text())["engine"]


def _has_engine(path: Path) -> bool:
    return "engine" in json.loads(path.read_text())


def cached_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def start_repro(root: Path, *targets: str) -> subprocess.Popen:
    """`dvc repro` in its own session, so the whole process tree can be killed at once."""
    return subprocess.Popen(
        ["dvc", "repro", *targets],
        cwd=root,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until(proc: subprocess.Popen, ready, what: str, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        assert proc.poll() is None, f"dvc repro exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process group (dvc and the stage command it runs), as kill -9 would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(500):  # the group is gone only when its last member has been reaped
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError("processes of the killed dvc repro survived SIGKILL")


@pytest.fixture(scope="module")
def chat_server():
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def generated(tmp_path_factory, smollm2_dir, gemma3_dir, chat_server):
    """A clone whose generation stages ran fault-free against the scripted server."""
    root = make_clone(tmp_path_factory.mktemp("direct"), smollm2_dir, gemma3_dir)
    configure(root, *openai_overrides(chat_server.base_url))
    log = dvc(root, "repro", "assemble")
    return root, log


# ----------------------------------------------------------------------------- faults


def test_generation_stages_identical_under_faults(
    tmp_path, smollm2_dir, gemma3_dir, chat_server, generated
):
    direct, log = generated
    for stage in ("profiles", "rolegpt", "context-instruct", "assemble"):
        assert f"Running stage '{stage}'" in log, stage
    with FaultProxy(
        chat_server.base_url.removesuffix("/v1"), rate=0.2, seed=0, hold_s=4.0
    ) as proxy:
        faulty = make_clone(tmp_path, smollm2_dir, gemma3_dir)
        configure(faulty, *openai_overrides(proxy.base_url))
        dvc(faulty, "repro", "assemble")

    shards = sorted(p.relative_to(direct) for p in (direct / "data/rolebench").rglob("*.parquet"))
    assert len(shards) >= 4, shards
    assert tree_bytes(faulty / "data/rolebench") == tree_bytes(direct / "data/rolebench")
    assert tree_bytes(faulty / "data/generated") == tree_bytes(direct / "data/generated")

    kinds = {kind for kind, count in proxy.faults.items() if count}
    assert len(kinds) >= 3, proxy.faults  # several kinds of fault really happened
    llm_stages = [p.stem for p in sorted((direct / "metrics").glob("*.json")) if _has_engine(p)]
    assert {"rolegpt", "context_instruct"} <= set(llm_stages), llm_stages
    paid = 0
    for stage in llm_stages:
        clean, hurt = engine_stats(direct, stage), engine_stats(faulty, stage)
        assert hurt == clean and hurt["errors"] == 0, (stage, clean, hurt)
        paid += hurt["cache_misses"]
    assert set(proxy.delivered.values()) == {1}  # no call was answered twice ...
    assert len(proxy.delivered) == paid  # ... and every call was answered


# ----------------------------------------------------------------------------- kill -9


@pytest.fixture(scope="module")
def tiny_abs(tiny_model_dir) -> str:
    return str(Path(tiny_model_dir).resolve())


def test_kill_during_generation_then_resume(tmp_path, smollm2_dir, gemma3_dir, tiny_abs):
    root = make_clone(tmp_path, smollm2_dir, gemma3_dir)
    configure(
        root,
        f"engine.local.model={tiny_abs}",
        "engine.local.model_zh=null",  # the tiny model answers the Chinese role too
        "engine.local.batch_size=2",
    )
    db = root / "cache/llm/rolegpt.sqlite"
    victim = start_repro(root, "rolegpt")
    wait_until(victim, lambda: cached_rows(db) >= 10, "the rolegpt cache filled up a little")
    kill_tree(victim)
    done_at_kill = cached_rows(db)
    assert not (root / "metrics/rolegpt.json").exists()  # the stage really was interrupted
    # The killed dvc leaves its entry in .dvc/tmp/rwlock; dvc drops entries of dead PIDs on
    # its own, so the user just runs `dvc repro` again (nothing to delete by hand).
    assert str(victim.pid) in (root / ".dvc/tmp/rwlock").read_text()

    out = dvc(root, "repro", "rolegpt")
    assert "Running stage 'rolegpt'" in out
    stats = engine_stats(root, "rolegpt")
    assert done_at_kill < stats["calls"], (done_at_kill, stats)  # killed part-way
    assert stats["cache_hits"] == done_at_kill  # every completed call was kept ...
    assert stats["cache_misses"] == stats["calls"] - stats["cache_hits"]  # ... none paid twice
    assert cached_rows(db) == stats["calls"]
    assert stats["errors"] == 0

    metrics = json.loads((root / "metrics/rolegpt.json").read_text())
    rows = [
        json.loads(line)
        for line in (root / "data/generated/rolegpt.jsonl").read_text().splitlines()
    ]
    assert len(rows) == metrics["written"] and metrics["pairs"] == 3 * 8 + 1 * 2  # en + zh
    assert all(len(r["responses"]) >= 2 for r in rows)
    assert "up to date" in dvc(root, "status", "rolegpt")


def test_kill_during_training_then_resume(generated, tiny_abs):
    root, _ = generated  # generation done (scripted server); only train's params change
    apply_overrides(
        root / "params.yaml",
        [f"train.base_model={tiny_abs}", "train.max_steps=8", "train.save_steps=2"],
    )
    commit(root, "train on the tiny model")
    checkpoints = root / "models/rocit/checkpoints"

    def complete_checkpoint() -> bool:
        return any((c / "trainer_state.json").is_file() for c in checkpoints.glob("checkpoint-*"))

    victim = start_repro(root, "train")
    wait_until(victim, complete_checkpoint, "a complete training checkpoint")
    kill_tree(victim)
    complete = sorted(
        int(c.name.rsplit("-", 1)[1])
        for c in checkpoints.glob("checkpoint-*")
        if (c / "trainer_state.json").is_file()
    )
    assert complete and complete[-1] < 8
    assert not (root / "models/rocit/training_summary.json").exists()

    out = dvc(root, "repro", "train")
    assert "Running stage 'train'" in out and "Running stage 'validate'" not in out
    summary = json.loads((root / "models/rocit/training_summary.json").read_text())
    resumed = summary["training"]["resumed_from"]
    assert resumed is not None and int(resumed.rsplit("-", 1)[1]) >= complete[-1], resumed
    assert summary["training"]["global_steps"] == 8

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_abs)
    model = PeftModel.from_pretrained(base, str(root / "models/rocit/adapter"))
    assert model.peft_config["default"].r > 0
