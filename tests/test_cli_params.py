"""params.yaml validation and the CLI's one-line errors (exit code 2 for bad params)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

ROLELLM = str(Path(sys.executable).parent / "rolellm")


def _run(*args, cwd=None):
    return subprocess.run([ROLELLM, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_every_verb():
    out = _run("--help").stdout
    for verb in (
        "prepare-model",
        "raw-scripts",
        "profiles",
        "score",
        "validate",
        "import-rolebench",
        "train",
    ):
        assert verb in out


def test_repository_params_file_is_valid():
    from rolellm.config import load_params

    params = load_params(REPO_ROOT / "params.yaml")
    assert params.engine.backend == "local"
    assert len(params.profiles.roles) >= 8
    assert sum(r.held_out for r in params.profiles.roles) == 2
    assert len({r.script for r in params.profiles.roles}) >= 4


BAD_PARAMS = [
    (
        {"engine": {"local": {"batch_size": 0}}},
        "engine.local.batch_size: Input should be greater than 0",
    ),
    ({"engine": {"backend": "tgi"}}, "engine.backend: Input should be 'local' or 'openai'"),
    ({"engnie": {}}, "engnie: unknown key"),
    ({"profiles": {"min_lines": "many"}}, "profiles.min_lines: Input should be a valid integer"),
    (
        {"profiles": {"describe": {"sampling": {"temperature": 9}}}},
        "profiles.describe.sampling.temperature",
    ),
    ({"engine": {"openai": {"api_key_env": "sk-live-0123456789abcdefXYZ"}}}, "looks like a secret"),
    (
        {"engine": {"openai": {"base_url": "localhost:8000"}}},
        "engine.openai.base_url: must start with http",
    ),
    ({"profiles": {"roles": [{"name": "../etc", "script": "hamlet"}]}}, "looks like a path"),
    ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_PARAMS)
def test_bad_params_give_one_line_and_exit_2(tmp_path, content, expected):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(content))
    result = _run("raw-scripts", "--params", str(path), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ") and expected in lines[0]
    assert not (tmp_path / "data").exists()  # nothing written


def test_unreadable_params_files(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("engine: [unclosed\n")
    result = _run("raw-scripts", "--params", str(broken))
    assert result.returncode == 2 and "broken.yaml: line" in result.stderr
    result = _run("raw-scripts", "--params", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "missing.yaml: file not found" in result.stderr
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    assert "top level must be a mapping" in _run("raw-scripts", "--params", str(scalar)).stderr
