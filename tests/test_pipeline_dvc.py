"""The DVC pipeline in a fresh git clone: repro, status, metrics, exp run -S; code as deps."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.clone import commit, make_clone, sh
from tests.conftest import REPO_ROOT

FIRST_STAGES = ["raw-scripts", "profiles", "instructions"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory, smollm2_dir, gemma3_dir):
    return make_clone(tmp_path_factory.mktemp("clone"), smollm2_dir, gemma3_dir)


def test_repro_status_metrics_and_experiments(clone):
    out = sh(["dvc", "repro", *FIRST_STAGES], clone)
    assert "Running stage 'profiles'" in out and "Running stage 'instructions'" in out
    assert (clone / "data" / "profiles" / "roles.json").is_file()
    assert "up to date" in sh(["dvc", "status", *FIRST_STAGES], clone)

    again = sh(["dvc", "repro", *FIRST_STAGES], clone)
    assert "Running stage" not in again  # nothing recomputed

    metrics = sh(["dvc", "metrics", "show"], clone)
    assert "metrics/profiles.json" in metrics and "metrics/instructions.json" in metrics

    commit(clone, "lock")
    exp = sh(["dvc", "exp", "run", "-S", "profiles.max_exchange_lines=4", *FIRST_STAGES], clone)
    assert "Running stage 'profiles'" in exp
    assert "Running stage 'instructions'" not in exp and "Running stage 'raw-scripts'" not in exp


# --- dvc.yaml sees code: a stage's own modules are its dependencies ---------------------

PACKAGES = ("rolellm", "dataset_builder", "training", "cards")
# code a stage runs without importing it: release hashes the prompt templates that
# RoleGPTConfig.template() returns, on the params object the CLI hands it
RUN_THROUGH_PARAMS = {"release": {"dataset_builder/rolegpt_config.py"}}
COMMANDS = REPO_ROOT / "rolellm" / "commands"  # the verbs, one module per group
# the dispatcher, the options every verb shares, and the params schema
SHARED = {"rolellm/cli.py", "rolellm/commands/options.py", "rolellm/config.py"}


def _stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _outs(stage: dict) -> list[str]:
    return [p for key in ("outs", "metrics", "plots") for p in _paths(stage.get(key))]


def _covers(dep: str, path: str) -> bool:
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def _module_file(name: str) -> str | None:
    base = Path(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if (REPO_ROOT / candidate).is_file():
            return candidate.as_posix()
    return None


def _imports(tree: ast.AST, package: str) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # a module named for import_module (lazy package exports)
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] in PACKAGES:
            found.update(
                ".".join(parts[:i])
                for i in range(1, len(parts) + 1)
                if _module_file(".".join(parts[:i]))
            )
    return found


def _closure(modules: set[str]) -> set[str]:
    """Every project file that these modules import, at any depth, lazily or not."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        todo.extend(_imports(ast.parse((REPO_ROOT / path).read_text()), package))
    return {_module_file(name) for name in seen}


def _verb_imports() -> dict[str, set[str]]:
    """The modules each `rolellm <verb>` imports: its own body and the CLI helpers it calls."""
    trees = [ast.parse(path.read_text()) for path in sorted(COMMANDS.glob("*.py"))]
    nodes = [node for tree in trees for node in tree.body]
    helpers = {
        node.name: node
        for node in nodes
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.decorator_list
    }
    verbs = {}
    for node in nodes:
        for deco in getattr(node, "decorator_list", []):
            if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "command":
                called = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                parts = [node, *(helpers[name] for name in called & set(helpers))]
                verbs[deco.args[0].value] = set().union(*(_imports(p, "rolellm") for p in parts))
    return verbs


def test_every_stage_lists_the_code_it_imports():
    verbs = _verb_imports()
    for name, stage in _stages().items():
        verb = stage["cmd"].split()[1]
        deps = _paths(stage.get("deps"))
        code = _closure(verbs[verb]) - SHARED
        code = {f for f in code if not (f.endswith("__init__.py") and f.count("/") == 1)}
        missing = sorted(f for f in code if not any(_covers(dep, f) for dep in deps))
        assert not missing, f"stage {name}: add to its deps in dvc.yaml: {missing}"
        ran = code | SHARED | RUN_THROUGH_PARAMS.get(name, set())
        extra = sorted(d for d in deps if d.endswith(".py") and not any(_covers(d, f) for f in ran))
        assert not extra, f"stage {name}: deps it does not import (stale re-runs): {extra}"
        assert all((REPO_ROOT / dep).exists() for dep in deps if "/" in dep and dep.endswith(".py"))


def _placeholder_state(root: Path) -> None:
    """Every output as a tiny placeholder, committed to dvc.lock without running anything."""
    stages = _stages().values()
    outs = [out for stage in stages for out in _outs(stage)]
    inside = [  # deps such as data/instructions/pool.jsonl inside an output folder
        dep
        for stage in stages
        for dep in _paths(stage.get("deps"))
        if dep not in outs and any(_covers(out, dep) for out in outs)
    ]
    for out in [*outs, *inside]:
        path = root / out
        if not path.exists():
            if Path(out).suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}\n")
            else:
                path.mkdir(parents=True, exist_ok=True)
                (path / "placeholder.txt").write_text(out)


def _changed_stages(root: Path) -> set[str]:
    out = sh(["dvc", "status", "--json"], root)
    return set(json.loads(out[out.index("{") :])) if "{" in out else set()


def _edges(root: Path) -> list[tuple[str, str]]:
    """The pipeline DAG as DVC sees it: (upstream, downstream) stage pairs."""
    dot = sh(["dvc", "dag", "--dot"], root)
    return [
        tuple(part.strip().strip('";') for part in line.split("->"))
        for line in dot.splitlines()
        if "->" in line
    ]


def _reachable(edges: list[tuple[str, str]], start: set[str]) -> set[str]:
    found = set(start)
    while more := {b for a, b in edges if a in found} - found:
        found |= more
    return found


def test_editing_a_module_reruns_its_stage_and_only_what_follows(tmp_path):
    files = subprocess.run(  # the working tree as git sees it: tracked and new files
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        if (REPO_ROOT / name).is_file() and name != "dvc.lock":
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, tmp_path / name)
    _placeholder_state(tmp_path)
    sh(["git", "init", "-q"], tmp_path)
    commit(tmp_path, "placeholders")
    sh(["dvc", "commit", "-f", "-q"], tmp_path)
    assert _changed_stages(tmp_path) == set()  # nothing edited: nothing to re-run

    edited = "dataset_builder/rolegpt.py"
    with open(tmp_path / edited, "a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    direct = {
        name
        for name, stage in _stages().items()
        if any(_covers(dep, edited) for dep in _paths(stage.get("deps")))
    }
    assert "rolegpt" in direct
    assert _changed_stages(tmp_path) == direct  # the stages that import it, nothing else
    edges = _edges(tmp_path)
    upstream = _reachable([(b, a) for a, b in edges], {"rolegpt"}) - {"rolegpt"}
    assert upstream >= {"instructions", "profiles", "raw-scripts", "prepare-model"}
    assert upstream.isdisjoint(direct)

    # rolegpt re-runs (its shard changes): the shard's readers become stale, as dvc repro
    # would see (its metrics file, which release reads, stays the same here)
    shard = "data/generated/rolegpt.jsonl"
    (tmp_path / shard).write_text('{"new": 1}\n')
    sh(["dvc", "commit", "-f", "-q", "rolegpt"], tmp_path)
    children = {b for a, b in edges if a == "rolegpt"}
    readers = {n for n, s in _stages().items() if any(_covers(d, shard) for d in _paths(s["deps"]))}
    assert "assemble" in readers and readers <= children
    assert _changed_stages(tmp_path) == (direct - {"rolegpt"}) | readers
    assert _reachable(edges, direct).isdisjoint(upstream)
