"""`rolellm push` / `pull` against tests/servers/fake_hub.py (the real huggingface_hub client).

The client runs in this process with HF_HUB_DISABLE_XET (the fake Hub speaks LFS, not xet);
huggingface_hub's import-time constants are pointed at the fake Hub, except ENDPOINT, which is
left unroutable so that only an honoured HF_ENDPOINT reaches the server.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from cards.config import ReleaseConfig
from cards.pull import PullError, pull
from cards.push import PushError, PushTarget, pipeline_state, run_push
from cards.release import run_release
from rolellm.errors import ConfigError, InputError
from tests.servers.fake_hub import FakeHub
from tests.test_cards import PLANTED, build_workspace

TOKEN = "hf_" + "Tok3nForTheFakeHubOnly0123456789ab"


@pytest.fixture(scope="module")
def release(tmp_path_factory, tiny_model_dir):
    ws = build_workspace(tmp_path_factory.mktemp("push"), tiny_model_dir)
    run_release(ReleaseConfig(org="me", dataset_name="rb", model_name="rm"), ws.paths)
    return ws


@pytest.fixture
def hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    with FakeHub(token=TOKEN) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        closed = "http://127.0.0.1:9"  # nothing listens there
        monkeypatch.setattr(constants, "ENDPOINT", closed)
        template = closed + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agents.json"))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        yield server


def targets(root: Path) -> list[PushTarget]:
    return [
        PushTarget("dataset", root / "dataset", "me/rb"),
        PushTarget("model", root / "model", "me/rm"),
    ]


def push(ws, root: Path | None = None, **kwargs):
    lines: list[str] = []
    outcomes = run_push(
        targets(root or ws.paths.out),
        validation=ws.paths.validation,
        dvc_lock=ws.paths.dvc_lock,
        echo=lines.append,
        **kwargs,
    )
    return outcomes, lines


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_push_sends_exactly_the_release_folder_in_one_commit_and_tags_it(
    hub, release, capsys, caplog
):
    outcomes, lines = push(release)
    tag = pipeline_state(release.paths.dvc_lock)
    assert [o.status for o in outcomes] == ["committed", "committed"]
    for target in targets(release.paths.out):
        received = hub.files(target.repo_id, target.repo_type)
        assert received.pop(".gitattributes")  # the Hub's own first commit
        assert received == folder_bytes(target.folder)
        commits = hub.commits(target.repo_id, target.repo_type)
        assert len(commits) == 2 and commits[-1].message == f"Release {tag}"
        assert hub.repo(target.repo_id, target.repo_type).tags == {tag: commits[-1].oid}
    lfs_puts = [path for method, path, _ in hub.requests if method == "PUT"]
    assert any("/__lfs/dataset/me/rb/" in p for p in lfs_puts)  # parquet went through LFS
    assert lines[0].startswith("dataset me/rb: committed 7 file(s)")
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err + caplog.text + "\n".join(lines)


def test_second_push_of_the_same_state_sends_nothing(hub, release):
    push(release)
    before = list(hub.requests)
    outcomes, lines = push(release)
    assert [o.status for o in outcomes] == ["unchanged", "unchanged"]
    assert "is already published" in lines[0] and "nothing sent" in lines[0]
    assert len(hub.commits("me/rb", "dataset")) == 2 and len(hub.commits("me/rm", "model")) == 2
    new = [(m, p) for m, p, _ in hub.requests[len(before) :]]
    assert not [r for r in new if r[0] == "PUT" or "/commit/" in r[1] or "/preupload/" in r[1]]


def test_same_files_without_the_tag_only_adds_the_tag(hub, release):
    push(release)
    hub.repo("me/rb", "dataset").tags.clear()  # e.g. the tag request failed last time
    outcomes, _ = push(release)
    assert outcomes[0].status == "tagged" and outcomes[1].status == "unchanged"
    assert len(hub.commits("me/rb", "dataset")) == 2


def test_new_state_commits_only_changes_and_deletions(hub, release, tmp_path):
    push(release)
    copy = tmp_path / "release"
    shutil.copytree(release.paths.out, copy)
    (copy / "model" / "eval.md").unlink()
    (copy / "model" / "README.md").write_text((copy / "model" / "README.md").read_text() + "\nv2\n")
    lock = tmp_path / "dvc.lock"
    lock.write_text(release.paths.dvc_lock.read_text() + "# changed\n")
    lines: list[str] = []
    outcomes = run_push(
        targets(copy), validation=release.paths.validation, dvc_lock=lock, echo=lines.append
    )
    assert outcomes[0].status == "tagged"  # dataset files unchanged: the new state tag only
    assert outcomes[1].status == "committed" and (outcomes[1].added, outcomes[1].deleted) == (1, 1)
    received = hub.files("me/rm", "model")
    received.pop(".gitattributes")
    assert received == folder_bytes(copy / "model")
    assert len(hub.repo("me/rm", "model").tags) == 2


def test_failure_in_the_middle_of_an_upload_leaves_no_commit(hub, release):
    hub.fail("PUT", r"^/__lfs/model/", status=507, skip=1, times=None)  # 2nd LFS upload fails
    with pytest.raises(PushError) as err:
        push(release)
    message = str(err.value)
    assert message.startswith("push to me/rm failed, nothing committed there:")
    assert "already done: dataset me/rb: committed" in message and "\n" not in message
    assert TOKEN not in message
    assert len(hub.commits("me/rm", "model")) == 1  # only the Hub's initial commit
    assert hub.repo("me/rm", "model").tags == {}
    hub.rules.clear()
    outcomes, _ = push(release)  # the retry completes it
    assert [o.status for o in outcomes] == ["unchanged", "committed"]


def test_failed_commit_request_leaves_no_commit(hub, release):
    hub.fail("POST", r"/commit/", status=500)
    with pytest.raises(PushError, match="push to me/rb failed, nothing committed"):
        push(release)
    assert len(hub.commits("me/rb", "dataset")) == 1 and not hub.repo("me/rb", "dataset").tags


def test_planted_token_is_refused_before_any_request(hub, release, tmp_path, capsys):
    copy = tmp_path / "release"
    shutil.copytree(release.paths.out, copy)
    card = copy / "model" / "README.md"
    card.write_text(card.read_text() + f"\nlogin with {PLANTED}\n")
    with pytest.raises(InputError) as err:
        run_push(
            targets(copy), validation=release.paths.validation, dvc_lock=release.paths.dvc_lock
        )
    assert str(err.value) == f"refusing to push: {card}: looks like a Hub token (hf_...)"
    assert hub.requests == []
    assert PLANTED not in capsys.readouterr().out


def test_the_token_in_use_is_refused_in_any_file(hub, release, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(release.paths.out, copy)
    (copy / "dataset" / "notes.txt").write_text(f"token: {TOKEN}")
    with pytest.raises(InputError, match=r"notes\.txt: looks like a Hub token") as err:
        run_push(
            targets(copy), validation=release.paths.validation, dvc_lock=release.paths.dvc_lock
        )
    assert TOKEN not in str(err.value) and hub.requests == []


def test_local_refusals_happen_before_any_request(hub, release, tmp_path, monkeypatch):
    failed = tmp_path / "validation.json"
    failed.write_text(json.dumps({"success": False}))
    for kwargs, error, pattern in [
        ({"validation": failed}, InputError, "quality gate failed"),
        ({"validation": tmp_path / "none.json"}, InputError, "validation report missing"),
        ({"dvc_lock": tmp_path / "none.lock"}, InputError, "names the pipeline state"),
    ]:
        options = {"validation": release.paths.validation, "dvc_lock": release.paths.dvc_lock}
        with pytest.raises(error, match=pattern):
            run_push(targets(release.paths.out), **{**options, **kwargs})
    bad = [PushTarget("dataset", release.dataset, "me/bad--name")]
    with pytest.raises(
        ConfigError, match=r"--dataset-repo 'me/bad--name': not a valid Hub repo id"
    ):
        run_push(bad, validation=release.paths.validation, dvc_lock=release.paths.dvc_lock)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(InputError, match="no Hub token: set HF_TOKEN"):
        push(release)
    assert hub.requests == []


def test_dry_run_prints_the_plan_and_sends_nothing(hub, release, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")  # not needed for a plan
    outcomes, lines = push(release, dry_run=True)
    tag = pipeline_state(release.paths.dvc_lock)
    assert outcomes == [] and hub.requests == []
    assert lines[0] == f"dry run: nothing is sent (endpoint {hub.url})"
    assert lines[1] == f"dataset -> datasets/me/rb  revision main  tag {tag}  (public)"
    size = (release.dataset / "roles.json").stat().st_size
    assert f"  {size:>12,}  roles.json" in lines
    assert any(line.startswith("model -> me/rm  revision main") for line in lines)


def test_private_repos(hub, release):
    push(release, private=True)
    assert hub.repo("me/rb", "dataset").private and hub.repo("me/rm", "model").private


def test_cli_push_and_pull(hub, release, tmp_path, monkeypatch, capsys):
    """The verbs end to end: exit codes, one-line errors, no token in the output."""
    from rolellm import cli

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["rolellm", *args])
        try:
            cli.main()
        except SystemExit as exit_:
            return exit_.code or 0
        return 0

    common = [
        "--params",
        str(tmp_path / "params.yaml"),
        "--release-dir",
        str(release.paths.out),
        "--validation-report",
        str(release.paths.validation),
        "--dvc-lock",
        str(release.paths.dvc_lock),
    ]
    assert run("push", *common, "--dataset-repo", "me/rb") == 0
    assert run("push", *common, "--dataset-repo", "me/rb") == 0
    assert run("push", *common, "--model-repo", "nonamespace") == 2
    tag = pipeline_state(release.paths.dvc_lock)
    assert run("pull", "me/rb", "--revision", tag, "--out", str(tmp_path / "got")) == 0
    assert run("pull", "me/rb", "--revision", "nope", "--out", str(tmp_path / "x")) == 1
    out = capsys.readouterr()
    assert "dataset me/rb: committed 7 file(s)" in out.out
    assert "dataset me/rb: unchanged" in out.out
    assert f"dataset me/rb at {tag}" in out.out
    errors = [line for line in out.err.splitlines() if line.startswith("error")]  # + progress bars
    assert errors == [
        "error: --model-repo 'nonamespace': not a valid Hub repo id (expected namespace/name: "
        "letters, digits, '-', '_', '.'; at most 96 characters each; no '--' or '..')",
        "error: me/rb: revision 'nope' not found",
    ]
    assert TOKEN not in out.out + out.err
    assert (
        not hub.files("me/rb", "dataset").keys()
        - {".gitattributes"}
        - folder_bytes(release.dataset).keys()
    )


def test_pull_pins_a_revision(hub, release, tmp_path):
    push(release)
    tag = pipeline_state(release.paths.dvc_lock)
    first = hub.repo("me/rb", "dataset").tags[tag]
    result = pull("me/rb", "dataset", tag, tmp_path / "pulled")
    assert result.commit == first
    got = folder_bytes(tmp_path / "pulled")
    got = {k: v for k, v in got.items() if not k.startswith(".cache/")}
    assert got.pop(".gitattributes")
    assert got == folder_bytes(release.dataset)
    from datasets import load_dataset

    ds = load_dataset(
        str(tmp_path / "pulled"), "eng_instruction_generalization_general", split="test"
    )
    assert ds.num_rows == 2
    with pytest.raises(PullError, match="me/zz: dataset repo not found"):
        pull("me/zz", "dataset", None, tmp_path / "zz")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in files if TOKEN.encode() in p.read_bytes()]
