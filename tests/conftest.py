"""Shared fixtures. Nothing here reaches the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The slice of the original RoleBench release beside the checkout (skips when absent)."""
    folder = REFERENCE / "rolebench"
    if not folder.is_dir():
        pytest.skip(f"reference RoleBench slice not found at {folder} (outside this checkout)")
    return folder
