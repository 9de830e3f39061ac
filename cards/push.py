"""`rolellm push`: publish the release folders to the Hugging Face Hub, one commit per repo.

Before any request:
    - the repo ids must be valid Hub ids,
    - the quality gate report (reports/validation.json) must exist and say success: true,
    - no file of the folders may contain something shaped like a secret (cards/secrets.py),
      nor the Hub token itself.

Then, per repo: create it if needed, list its refs; when the state tag (`state-<12 hex of
sha256(dvc.lock)>`) already exists, nothing is sent. Otherwise the files whose hash differs
from the branch head (and deletions of files no longer in the folder) go into ONE
`HfApi.create_commit` (pinned to the head it compared against), then the tag is created on
that commit. A failure before the commit leaves the repo as it was; a failure between commit
and tag is repaired by the next push (files equal, tag missing: the tag alone is created).

The token comes from HF_TOKEN or the Hub login (huggingface_hub.get_token()), never from
params or options; it is never printed or written. HF_ENDPOINT selects another Hub.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cards.config import check_repo_id
from cards.secrets import scan_paths
from rolellm.errors import ConfigError, InputError, RolellmError
from rolellm.records import check_validation_report

STATE_PREFIX = "state-"
REPO_TYPES = ("dataset", "model")
_CHUNK = 1 << 20


class PushError(RolellmError):
    """The Hub refused or failed a request; the message says whether anything was committed."""


# --- local checks --------------------------------------------------------------------------


def pipeline_state(dvc_lock: str | Path) -> str:
    """The tag naming the pipeline state: `state-` + 12 hex digits of sha256(dvc.lock)."""
    path = Path(dvc_lock)
    if not path.is_file():
        raise InputError(f"{path}: not found; the release tag names the pipeline state (dvc.lock)")
    return STATE_PREFIX + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class LocalFile:
    path: str  # posix path inside the repo
    size: int
    sha256: str
    git_sha1: str  # git blob id, what the Hub reports for a regular (non-LFS) file


def hash_file(path: Path) -> tuple[str, str]:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(f"blob {size}\0".encode())
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


@dataclass
class RepoPlan:
    part: str
    repo_id: str
    repo_type: str
    folder: Path
    tag: str
    private: bool = False
    revision: str = "main"
    files: list[LocalFile] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    def lines(self) -> list[str]:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        head = (
            f"{self.part} -> {prefix}{self.repo_id}  revision {self.revision}  tag {self.tag}  "
            f"({'private' if self.private else 'public'})"
        )
        rows = [f"  {f.size:>12,}  {f.path}" for f in self.files]
        foot = f"  {self.total:>12,}  total, {len(self.files)} file(s), from {self.folder}"
        return [head, *rows, foot]


def plan_folder(
    part: str, folder: Path, repo_id: str, repo_type: str, tag: str, private: bool = False
) -> RepoPlan:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha256, sha1 = hash_file(path)
        rel = path.relative_to(folder).as_posix()
        files.append(LocalFile(rel, path.stat().st_size, sha256, sha1))
    return RepoPlan(part, repo_id, repo_type, folder, tag, private, files=files)


# --- talking to the Hub --------------------------------------------------------------------


def hub_endpoint() -> str | None:
    """HF_ENDPOINT as it is now (huggingface_hub reads it once, at import)."""
    value = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return value or None


def hub_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise InputError(
            "no Hub token: set HF_TOKEN in the environment or log in with `hf auth login`"
        )
    return token


@dataclass
class PushOutcome:
    part: str
    repo_id: str
    status: str  # committed | tagged | unchanged
    tag: str
    commit: str | None = None
    added: int = 0
    deleted: int = 0

    def line(self) -> str:
        short = (self.commit or "?")[:12]
        where = f"{self.part} {self.repo_id}"
        if self.status == "unchanged":
            return (
                f"{where}: unchanged: {self.tag} is already published (commit {short}); "
                "nothing sent"
            )
        if self.status == "tagged":
            return f"{where}: files already up to date; tagged {self.tag} at {short}"
        return (
            f"{where}: committed {self.added} file(s)"
            + (f" and {self.deleted} deletion(s)" if self.deleted else "")
            + f" as {short}; tagged {self.tag}"
        )


def _same(local: LocalFile, remote: Any) -> bool:
    if remote is None:
        return False
    if getattr(remote, "lfs", None):
        return remote.lfs.sha256 == local.sha256
    return remote.blob_id == local.git_sha1


def push_plan(plan: RepoPlan, api: Any) -> PushOutcome:
    """Bring one repo to the folder's content in one commit, then tag it (see module doc)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.hf_api import RepoFile

    api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=plan.private, exist_ok=True)
    refs = api.list_repo_refs(plan.repo_id, repo_type=plan.repo_type)
    tag = next((t for t in refs.tags if t.name == plan.tag), None)
    if tag is not None:
        return PushOutcome(plan.part, plan.repo_id, "unchanged", plan.tag, tag.target_commit)
    head = next((b.target_commit for b in refs.branches if b.name == plan.revision), None)
    remote = {}
    if head is not None:
        for entry in api.list_repo_tree(
            plan.repo_id, repo_type=plan.repo_type, revision=head, recursive=True
        ):
            if isinstance(entry, RepoFile):
                remote[entry.path] = entry
    local = {f.path for f in plan.files}
    changed = [f for f in plan.files if not _same(f, remote.get(f.path))]
    gone = sorted(p for p in remote if p not in local and p != ".gitattributes")
    message = f"Release {plan.tag}"
    if not changed and not gone:
        api.create_tag(
            plan.repo_id,
            tag=plan.tag,
            revision=head,
            repo_type=plan.repo_type,
            tag_message=message,
        )
        return PushOutcome(plan.part, plan.repo_id, "tagged", plan.tag, head)
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(plan.folder / f.path))
        for f in changed
    ]
    operations += [CommitOperationDelete(path_in_repo=p) for p in gone]
    info = api.create_commit(
        plan.repo_id,
        operations,
        commit_message=message,
        commit_description=(
            f"rolellm release of the pipeline state {plan.tag} "
            f"({len(changed)} file(s) added or changed, {len(gone)} deleted)."
        ),
        repo_type=plan.repo_type,
        revision=plan.revision,
        parent_commit=head,
    )
    try:
        api.create_tag(
            plan.repo_id,
            tag=plan.tag,
            revision=info.oid,
            repo_type=plan.repo_type,
            tag_message=message,
        )
    except Exception as err:  # noqa: BLE001
        raise PushError(
            f"{plan.repo_id}: committed {info.oid[:12]} but could not create tag {plan.tag} "
            f"({_first_line(err)}); push again to add the tag"
        ) from None
    return PushOutcome(
        plan.part, plan.repo_id, "committed", plan.tag, info.oid, len(changed), len(gone)
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    cause = err.__cause__
    if isinstance(err, RuntimeError) and cause is not None:  # LFS upload wrapper
        text = f"{text} {_first_line(cause)}"
    return text.splitlines()[0] if text else type(err).__name__


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


# --- the command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    part: str  # dataset | model
    folder: Path
    repo_id: str

    @property
    def repo_type(self) -> str:
        return "dataset" if self.part == "dataset" else "model"


def check_targets(targets: Sequence[PushTarget]) -> None:
    if not targets:
        raise ConfigError("push: nothing to push (give --dataset-repo and/or --model-repo)")
    for target in targets:
        if target.part not in REPO_TYPES:
            raise ConfigError(f"push: unknown part {target.part!r}")
        check_repo_id(target.repo_id, f"--{target.part}-repo")
        if not target.folder.is_dir() or not (target.folder / "README.md").is_file():
            raise InputError(
                f"{target.folder}: no release folder with a README.md (run `rolellm release`)"
            )


def refuse_secrets(folders: Iterable[Path], token: str | None = None) -> None:
    """Refuse (before any request) when a file looks like it holds a credential."""
    needles = [("Hub token (the one in use)", token.encode())] if token else []
    findings = scan_paths(folders, needles=needles)
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise InputError(f"refusing to push: {findings[0].line()}{more}")


def run_push(
    targets: Sequence[PushTarget],
    *,
    validation: Path = Path("reports/validation.json"),
    dvc_lock: Path = Path("dvc.lock"),
    private: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> list[PushOutcome]:
    """Publish each target folder to its repo (see the module docstring); [] on a dry run."""
    check_targets(targets)
    check_validation_report(validation)
    token = None if dry_run else hub_token()
    refuse_secrets([t.folder for t in targets], token)
    tag = pipeline_state(dvc_lock)
    plans = [plan_folder(t.part, t.folder, t.repo_id, t.repo_type, tag, private) for t in targets]
    endpoint = hub_endpoint()
    if dry_run:
        echo(f"dry run: nothing is sent (endpoint {endpoint or 'https://huggingface.co'})")
        for plan in plans:
            for line in plan.lines():
                echo(line)
        return []

    from huggingface_hub import HfApi
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    api = HfApi(endpoint=endpoint, token=token, library_name="rolellm")
    outcomes = []
    bars_were_off = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        for plan in plans:
            try:
                outcome = push_plan(plan, api)
            except RolellmError as err:
                raise type(err)(_scrub(str(err), token)) from None
            except Exception as err:  # noqa: BLE001 (HTTP, LFS, validation: one line each)
                done = "; ".join(o.line() for o in outcomes)
                earlier = f" (already done: {done})" if done else ""
                raise PushError(
                    _scrub(
                        f"push to {plan.repo_id} failed, nothing committed there: "
                        f"{_first_line(err)}{earlier}",
                        token,
                    )
                ) from None
            outcomes.append(outcome)
            echo(_scrub(outcome.line(), token))
    finally:
        if not bars_were_off:
            enable_progress_bars()
    return outcomes


def targets_from_options(
    release_dir: Path,
    dataset_repo: str | None,
    model_repo: str | None,
    defaults: Mapping[str, str],
) -> list[PushTarget]:
    """Both parts with the params' repo ids when no repo option is given, else those given."""
    if dataset_repo is None and model_repo is None:
        dataset_repo, model_repo = defaults["dataset"], defaults["model"]
    targets = []
    if dataset_repo is not None:
        targets.append(PushTarget("dataset", release_dir / "dataset", dataset_repo))
    if model_repo is not None:
        targets.append(PushTarget("model", release_dir / "model", model_repo))
    return targets
