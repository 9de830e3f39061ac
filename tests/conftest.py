"""Shared fixtures. Nothing here reaches the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The slice of the original RoleBench release beside the checkout (shared/reference).

    A missing slice fails the tests that need it instead of skipping them: a skip would let
    the importer and gate checks on the original release pass unseen."""
    folder = REFERENCE / "rolebench"
    if not folder.is_dir():
        pytest.fail(f"reference RoleBench slice not found at {folder} (shared/ beside checkout)")
    return folder


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """The per-user cache of converted embedded models (rolellm.engine.embedded): one per
    test session unless ROLELLM_CACHE is set, shared by every clone and subprocess in it."""
    if not os.environ.get("ROLELLM_CACHE"):
        os.environ["ROLELLM_CACHE"] = str(tmp_path_factory.mktemp("rolellm-cache"))
    return Path(os.environ["ROLELLM_CACHE"])


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The embedded SmolLM2 as a safetensors folder (the repo's models/smollm2 when present)."""
    from rolellm.engine.embedded import is_materialised, materialise_embedded_model

    local = REPO_ROOT / "models" / "smollm2"
    if is_materialised(local):
        return local
    return materialise_embedded_model(tmp_path_factory.mktemp("models") / "smollm2")


@pytest.fixture(scope="session")
def gemma3_dir(tmp_path_factory) -> Path:
    """The embedded Gemma 3 270M (the Chinese generator) as a safetensors folder (the repo's
    models/gemma3-270m when present; otherwise converted once, about 2 minutes)."""
    from rolellm.engine.embedded import GEMMA3, is_materialised, materialise_embedded_model

    local = REPO_ROOT / "models" / "gemma3-270m"
    if is_materialised(local):
        return local
    return materialise_embedded_model(tmp_path_factory.mktemp("models") / "gemma3-270m", GEMMA3)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_dir) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer and chat template."""
    from transformers import AutoTokenizer

    from tests.tiny import save_tiny_llama

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    return save_tiny_llama(tokenizer, out, tie_word_embeddings=True)


@pytest.fixture(scope="session")
def openai_server(smollm2_dir):
    """A real `transformers serve` on 127.0.0.1 serving the embedded SmolLM2."""
    import subprocess
    import sys
    import time

    import httpx

    port = _free_port()
    exe = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            str(smollm2_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("transformers serve exited at start-up")
            time.sleep(0.5)
        else:
            raise RuntimeError("transformers serve did not become healthy")
        yield {"base_url": url + "/v1", "model": str(smollm2_dir)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
