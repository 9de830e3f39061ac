"""A fresh clone of this checkout for pipeline tests: tracked files committed in a new repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rolellm.engine.embedded import link_tree
from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.email=t@t", "-c", "user.name=t"]


def sh(args, cwd, timeout=1800) -> str:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def commit(root: Path, message: str) -> None:
    sh(["git", "add", "-A"], root)
    sh(["git", *GIT_ID, "commit", "-qm", message, "--allow-empty"], root)


def make_clone(root: Path, smollm2_dir: Path, gemma3_dir: Path) -> Path:
    """The checkout's tracked files in a new repo at `root`, with the embedded models in
    place (skipping their GGUF conversion: SmolLM2 20 s, Gemma 2 min)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    )
    for name in filter(None, files.stdout.decode().split("\0")):
        if (REPO_ROOT / name).is_file() and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, root / name)
    link_tree(smollm2_dir, root / "models" / "smollm2")
    link_tree(gemma3_dir, root / "models" / "gemma3-270m")
    sh(["git", "init", "-q"], root)
    # the models in place are prepare-model's outputs: no stage re-converts them (DVC would
    # delete and rebuild them first)
    sh(["dvc", "commit", "-f", "-q", "prepare-model"], root)
    commit(root, "clone")
    return root


def quick_args(root: Path) -> list[str]:
    lines = (root / "quick.args").read_text().split()
    return [arg for line in lines for arg in ("-S", line)]
