"""A model's identity for cache keys: what was loaded, not what it was called.

A local folder is identified by the sha256 of its weight and config files (memoised by size
and mtime, so a 14 GB model is hashed once); a Hub id by id plus resolved commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_MEMO = Path(os.environ.get("ROLELLM_HOME", Path.home() / ".cache" / "rolellm")) / "identity.json"
_IDENTITY_FILES = ("*.safetensors", "*.bin", "*.gguf", "config.json", "tokenizer.json", "*.jinja")


def _files(folder: Path) -> list[Path]:
    found = {p for pattern in _IDENTITY_FILES for p in folder.glob(pattern) if p.is_file()}
    return sorted(found)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _load_memo() -> dict:
    try:
        return json.loads(_MEMO.read_text())
    except (OSError, ValueError):
        return {}


def _save_memo(memo: dict) -> None:
    try:
        _MEMO.parent.mkdir(parents=True, exist_ok=True)
        tmp = _MEMO.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, _MEMO)
    except OSError:
        pass  # the memo only saves time


def folder_identity(folder: Path) -> str:
    memo = _load_memo()
    digest = hashlib.sha256()
    changed = False
    for path in _files(folder):
        stat = path.stat()
        slot = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if slot not in memo:
            memo[slot] = _sha256(path)
            changed = True
        digest.update(f"{path.name}:{memo[slot]}\n".encode())
    if changed:
        _save_memo(memo)
    return f"sha256:{digest.hexdigest()}"


def model_identity(
    name_or_path: str, revision: str | None = None, commit: str | None = None
) -> str:
    folder = Path(name_or_path)
    if folder.is_dir():
        return folder_identity(folder)
    return f"hub:{name_or_path}@{commit or revision or 'main'}"
