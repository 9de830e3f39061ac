"""`rolellm pull`: download a released dataset or model repo at a pinned revision.

`snapshot_download` resolves the revision (branch, tag such as `state-<hash>`, or commit) to
one commit and fetches every file of that commit, so what lands in the folder is exactly one
published state. HF_ENDPOINT selects another Hub; the token (for private repos) comes from
HF_TOKEN or the Hub login.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cards.config import check_repo_id
from cards.push import REPO_TYPES, hub_endpoint
from rolellm.errors import ConfigError, RolellmError


class PullError(RolellmError):
    """The Hub could not give the repo or revision."""


@dataclass(frozen=True)
class PullResult:
    repo_id: str
    repo_type: str
    revision: str
    commit: str
    folder: Path
    files: int

    def line(self) -> str:
        return (
            f"{self.repo_type} {self.repo_id} at {self.revision} (commit {self.commit[:12]}): "
            f"{self.files} file(s) in {self.folder}"
        )


def pull(
    repo_id: str,
    repo_type: str = "dataset",
    revision: str | None = None,
    out: Path | None = None,
) -> PullResult:
    """Download ``repo_id`` at ``revision`` (default: main) into ``out`` (default: HF cache)."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if repo_type not in REPO_TYPES:
        raise ConfigError(f"--type {repo_type!r}: expected dataset or model")
    check_repo_id(repo_id, "repo")
    endpoint = hub_endpoint()
    revision = revision or "main"
    try:
        info = HfApi(endpoint=endpoint).repo_info(repo_id, repo_type=repo_type, revision=revision)
        commit = info.sha
        folder = snapshot_download(
            repo_id,
            repo_type=repo_type,
            revision=commit,  # pinned: every file comes from this one commit
            local_dir=str(out) if out is not None else None,
            endpoint=endpoint,
        )
    except RevisionNotFoundError:
        raise PullError(f"{repo_id}: revision {revision!r} not found") from None
    except RepositoryNotFoundError:
        raise PullError(
            f"{repo_id}: {repo_type} repo not found (or private: set HF_TOKEN / log in)"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PullError(f"{repo_id}: download failed: {first}") from None
    folder = Path(folder)
    files = sum(1 for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    return PullResult(repo_id, repo_type, revision, commit, folder, files)
