"""The DVC pipeline in a fresh git clone: repro, status, metrics, exp run -S."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
FIRST_STAGES = ["raw-scripts", "profiles", "instructions"]


def _sh(args, cwd, **kw):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def clone(tmp_path_factory, smollm2_dir):
    """The tracked files of this checkout, committed in a new repo (as a fresh clone)."""
    root = tmp_path_factory.mktemp("clone")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    )
    for name in filter(None, files.stdout.decode().split("\0")):
        if (REPO_ROOT / name).is_file() and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, root / name)
    shutil.copytree(smollm2_dir, root / "models" / "smollm2")  # skip the 20 s GGUF conversion
    _sh(["git", "init", "-q"], root)
    _sh(
        [
            "git",
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qam",
            "init",
            "--allow-empty",
        ],
        root,
    )
    _sh(["git", "add", "-A"], root)
    _sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "clone"], root)
    return root


def test_repro_status_metrics_and_experiments(clone):
    out = _sh(["dvc", "repro", *FIRST_STAGES], clone)
    assert "Running stage 'profiles'" in out and "Running stage 'instructions'" in out
    assert (clone / "data" / "profiles" / "roles.json").is_file()
    assert "up to date" in _sh(["dvc", "status", *FIRST_STAGES], clone)

    again = _sh(["dvc", "repro", *FIRST_STAGES], clone)
    assert "Running stage" not in again  # nothing recomputed

    metrics = _sh(["dvc", "metrics", "show"], clone)
    assert "metrics/profiles.json" in metrics and "metrics/instructions.json" in metrics

    _sh(["git", "add", "-A"], clone)
    _sh(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "lock"], clone)
    exp = _sh(["dvc", "exp", "run", "-S", "profiles.max_exchange_lines=4", *FIRST_STAGES], clone)
    assert "Running stage 'profiles'" in exp
    assert "Running stage 'instructions'" not in exp and "Running stage 'raw-scripts'" not in exp
