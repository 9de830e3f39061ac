"""The user's own scripts are inputs, never outputs (issue 14).

In a fresh clone: a folder of the user's scripts (a Fountain file and a Chinese `角色：台词`
file), inside the repo and outside it, is hashed before and after `dvc repro`, a second
`dvc repro`, `dvc repro -f` and `dvc exp run -S ...`: identical bytes every time, and the
profiles are built from it. The own-scripts YAML block of README.md runs verbatim.
Personas come from an overrides file, so no LLM call is made; only the stages up to
`profiles` run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.clone import commit, make_clone, sh
from tests.conftest import REPO_ROOT

# --------------------------------------------------------------------------- the user's files

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
N_LINES = 24  # per role: above params.yaml's min_lines (20)


def fountain_script() -> str:
    """A Fountain screenplay in which LADY M. (alias of Lady Macbeth) and MACBETH talk."""
    rows = ["Title: The Scottish Play", "", "INT. INVERNESS CASTLE - NIGHT", ""]
    for i in range(N_LINES):
        rows += ["LADY M.", f"Screw your courage to the sticking place, number {i}.", ""]
        rows += ["MACBETH", f"If we should fail, what then, time {i}?", ""]
    return "\n".join(rows)


def chinese_script() -> str:
    """A `角色：台词` script in which 甄嬛 and 华妃 talk."""
    rows = ["第一幕 御花园"]
    for i in range(N_LINES):
        rows += [f"甄嬛：臣妾做不到啊，第{i}次。", f"华妃：贱人就是矫情，第{i}回。"]
    return "\n".join(rows) + "\n"


def write_user_scripts(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "macbeth.fountain").write_text(fountain_script(), encoding="utf-8")
    (folder / "zhen-huan.txt").write_text(chinese_script(), encoding="utf-8")
    (folder / "notes").write_text("not a script: skipped\n", encoding="utf-8")


PERSONAS = {
    "Lady Macbeth": {
        "description": "The ambitious wife of Macbeth, who goads him to murder the king.",
        "catchphrases": ["Screw your courage to the sticking place."],
    },
    "Prospero": {
        "description": "The exiled Duke of Milan, a magician ruling an enchanted island.",
        "catchphrases": ["We are such stuff as dreams are made on."],
    },
    "甄嬛": {"description": "后宫中聪慧隐忍的妃嫔。", "catchphrases": ["臣妾做不到啊！"]},
}


def tree_digest(folder: Path) -> str:
    """sha256 over every file's relative path and bytes (and every folder's name)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def set_profiles(root: Path, section: dict) -> None:
    """Merge `section` into the `profiles:` of the checkout's params.yaml (nested mappings
    merged), as a user editing the file would, and write it to the clone."""
    params = yaml.safe_load(PRISTINE[root])

    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(params["profiles"], section)
    (root / "params.yaml").write_text(
        yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def roster(root: Path) -> dict[str, dict]:
    rows = json.loads((root / "data" / "profiles" / "roles.json").read_text(encoding="utf-8"))
    return {row["name"]: row for row in rows}


PRISTINE: dict[Path, str] = {}  # clone -> its params.yaml as cloned


@pytest.fixture(scope="module")
def clone(tmp_path_factory, smollm2_dir, gemma3_dir):
    """One clone for the module; each test sets its own profiles section."""
    root = make_clone(tmp_path_factory.mktemp("clone"), smollm2_dir, gemma3_dir)
    PRISTINE[root] = (root / "params.yaml").read_text(encoding="utf-8")
    return root


# --------------------------------------------------------------------------- every command


def _every_command_keeps(root: Path, folder: Path, section: dict) -> None:
    """Run the commands of the issue and check the user's folder after each one."""
    (root / "my_personas.yaml").write_text(
        yaml.safe_dump(PERSONAS, allow_unicode=True), encoding="utf-8"
    )
    set_profiles(root, section)
    commit(root, "my scripts")
    before = tree_digest(folder)

    out = sh(["dvc", "repro", "profiles"], root)
    assert "Running stage 'profiles'" in out  # raw-scripts too, unless an earlier test ran it
    assert tree_digest(folder) == before
    assert list((root / "data" / "plays").iterdir()) == []  # plays: [] -> an empty output
    got = roster(root)
    assert set(got) == {"Lady Macbeth", "甄嬛"}
    assert got["Lady Macbeth"]["source_script"] == "macbeth.fountain"
    assert got["Lady Macbeth"]["lines"] == N_LINES
    assert got["甄嬛"]["source_script"] == "zhen-huan.txt" and got["甄嬛"]["lang"] == "zh"
    assert {row["source_note"] for row in got.values()} == {"user-supplied script"}
    assert got["甄嬛"]["persona_source"] == "overrides"

    again = sh(["dvc", "repro", "profiles"], root)
    assert "Running stage" not in again
    assert tree_digest(folder) == before

    # -f forces the two stages next to the folder (a forced prepare-model would only
    # rebuild the embedded model, 20 s, and never sees the folder)
    forced = sh(["dvc", "repro", "-f", "-s", "raw-scripts", "profiles"], root)
    assert "Running stage 'raw-scripts'" in forced and "Running stage 'profiles'" in forced
    assert tree_digest(folder) == before

    commit(root, "lock")
    exp = sh(["dvc", "exp", "run", "-S", "profiles.max_exchange_lines=4", "profiles"], root)
    assert "Running stage 'profiles'" in exp
    assert tree_digest(folder) == before

    # the folder is a dependency: editing a script of it makes `profiles` stale
    script = folder / "macbeth.fountain"
    script.write_text(script.read_text(encoding="utf-8") + "\nMACBETH\nOne more.\n")
    assert "profiles" in sh(["dvc", "status", "profiles"], root)


def test_scripts_folder_in_the_repo_is_never_touched(clone):
    folder = clone / "my_scripts"
    write_user_scripts(folder)
    section = {
        "scripts_dir": "my_scripts",
        "plays": [],
        "roles": [
            {"name": "Lady Macbeth", "script": "macbeth", "aliases": ["LADY M."]},
            {"name": "甄嬛"},  # no script: the one script she speaks in
        ],
        "describe": {"overrides": "my_personas.yaml"},
    }
    _every_command_keeps(clone, folder, section)
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    assert "my_scripts" in {dep["path"] for dep in lock["profiles"]["deps"]}
    assert all(out["path"] != "my_scripts" for st in lock.values() for out in st.get("outs", []))


def test_scripts_folder_outside_the_repo_is_never_touched(clone, tmp_path):
    folder = tmp_path / "elsewhere" / "scripts"  # an absolute path, outside the clone
    write_user_scripts(folder)
    section = {
        "scripts_dir": str(folder),
        "plays": [],
        "roles": [{"name": "Lady Macbeth", "aliases": ["LADY M."]}, {"name": "甄嬛"}],
        "describe": {"overrides": "my_personas.yaml"},
    }
    _every_command_keeps(clone, folder, section)


def test_default_pipeline_reads_plays_and_the_empty_shipped_folder(clone):
    """The shipped scripts/ holds only a README: the default roles come from the plays."""
    shipped = clone / "scripts"
    before = tree_digest(shipped)
    set_profiles(clone, {"plays": ["hamlet"], "roles": [{"name": "Hamlet", "script": "hamlet"}]})
    sh(["dvc", "repro", "profiles"], clone)
    assert [p.name for p in (clone / "data" / "plays").iterdir()] == ["hamlet.md"]
    hamlet = roster(clone)["Hamlet"]
    assert hamlet["source_script"] == "hamlet.md" and "Shakespeare" in hamlet["source_note"]
    assert tree_digest(shipped) == before


def test_dvc_names_a_missing_scripts_folder_and_checkout_restores(clone):
    set_profiles(clone, {"plays": ["hamlet"], "roles": [{"name": "Hamlet", "script": "hamlet"}]})
    sh(["dvc", "repro", "profiles"], clone)
    commit(clone, "good run")
    good = tree_digest(clone / "data" / "profiles")
    set_profiles(clone, {"scripts_dir": "no_such_folder", "plays": []})
    result = subprocess.run(
        ["dvc", "repro", "profiles"], cwd=clone, env=ENV, capture_output=True, text=True
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "no_such_folder" in errors[0], result.stderr
    sh(["git", "checkout", "params.yaml"], clone)
    sh(
        ["dvc", "checkout", "profiles"], clone
    )  # DVC removed the stage's outputs; the cache has them
    assert tree_digest(clone / "data" / "profiles") == good


# --------------------------------------------------------------------------- README, verbatim

HEADING = "## Your own scripts and roles"


def yaml_block(markdown: str, heading: str = HEADING) -> str:
    """The first ```yaml fenced block under `heading` (before the next `## ` heading)."""
    section = markdown.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```yaml\n(.*?)^```$", section, re.M | re.S)
    assert match, f"no ```yaml block under {heading!r}"
    return match.group(1)


def readme_block() -> str:
    return yaml_block((REPO_ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_own_scripts_block_runs_verbatim(clone):
    section = yaml.safe_load(readme_block())["profiles"]
    folder = clone / section["scripts_dir"]
    write_user_scripts(folder)
    # the block's roles, played by the test's scripts: every one must be in them
    names = {role["name"] for role in section["roles"]}
    held_out = {role["name"] for role in section["roles"] if role.get("held_out")}
    overrides = section["describe"]["overrides"]
    assert names <= set(PERSONAS), names
    if "Prospero" in names:
        tempest = "\n".join(f"PROSPERO\nOur revels now are ended, {i}.\n" for i in range(N_LINES))
        (folder / "the-tempest.fountain").write_text(tempest, encoding="utf-8")
    (clone / overrides).write_text(yaml.safe_dump(PERSONAS, allow_unicode=True), "utf-8")
    set_profiles(clone, section)
    commit(clone, "README block")
    before = tree_digest(folder)
    sh(["dvc", "repro", "profiles"], clone)
    got = roster(clone)
    assert set(got) == names
    assert {name for name, row in got.items() if row["held_out"]} == held_out
    assert tree_digest(folder) == before
