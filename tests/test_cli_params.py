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
    held_out = [r.name for r in params.profiles.roles if r.held_out]
    assert held_out == ["Prospero", "Rosalind", "陈掌柜"]  # two English, one Chinese
    assert len({r.script for r in params.profiles.roles}) >= 4
    assert params.instructions.n_zh > 0 and "zh_general" in params.train.train_configs


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


# --- -s/--set KEY=VALUE: the keys of `dvc exp run -S`, applied before validation ----------


def test_overrides_apply_to_a_copy_with_yaml_values():
    from rolellm.config import Params
    from rolellm.overrides import apply_overrides

    data = {"rolegpt": {"n": 6}}
    out = apply_overrides(
        data,
        ["rolegpt.n=2", "engine.backend=openai", "profiles.plays=[hamlet, macbeth]", "seed=3"],
        "params.yaml",
        Params,
    )
    assert data == {"rolegpt": {"n": 6}}  # pure
    assert out["rolegpt"]["n"] == 2 and out["engine"] == {"backend": "openai"}
    assert out["profiles"]["plays"] == ["hamlet", "macbeth"] and out["seed"] == 3
    assert apply_overrides(
        {}, ["evaluate.adapter=", "rolegpt.n=2", "rolegpt.n=4"], "p", Params
    ) == {
        "evaluate": {"adapter": None},
        "rolegpt": {"n": 4},
    }


BAD_SETS = [
    ("rolegpt.nn=2", "--set rolegpt.nn=2: rolegpt.nn: unknown key"),
    ("rolegpt.n=many", "--set rolegpt.n=many: rolegpt.n: Input should be a valid integer"),
    ("engine.backend=tgi", "engine.backend: Input should be 'local' or 'openai'"),
    ("foo", "--set foo: expected KEY=VALUE"),
    ("=2", "--set =2: expected KEY=VALUE"),
    ("seed.x=1", "--set seed.x=1: seed is a value, not a section"),
    ("profiles.plays=[a", "--set profiles.plays=[a: value is not YAML"),
]


@pytest.mark.parametrize(("item", "expected"), BAD_SETS)
def test_bad_set_gives_one_line_and_exit_2(tmp_path, item, expected):
    result = _run(
        "raw-scripts", "--params", str(REPO_ROOT / "params.yaml"), "-s", item, cwd=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --set ") and expected in lines[0]
    assert not (tmp_path / "data").exists()  # nothing written


def test_set_reaches_the_stage_and_a_file_error_still_names_the_file(tmp_path):
    result = _run(
        "raw-scripts",
        "--params",
        str(REPO_ROOT / "params.yaml"),
        "-s",
        "profiles.plays=[hamlet]",
        "--set",
        f"profiles.plays_dir={tmp_path / 'plays'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "plays").iterdir()] == ["hamlet.md"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"engnie": {}}))
    result = _run("raw-scripts", "--params", str(path), "-s", "rolegpt.n=2", cwd=tmp_path)
    assert result.returncode == 2 and f"error: {path}: engnie: unknown key" in result.stderr


def test_every_verb_that_reads_params_takes_set():
    import typer

    from rolellm.cli import app

    commands = typer.main.get_command(app).commands
    reads_params = {
        name
        for name, cmd in commands.items()
        if any("--params" in param.opts for param in cmd.params)
    }
    assert {"raw-scripts", "train", "evaluate", "release", "validate"} <= reads_params
    for name in reads_params:
        assert any("--set" in param.opts for param in commands[name].params), name
