"""The DVC pipeline in a fresh git clone: repro, status, metrics, exp run -S."""

from __future__ import annotations

import pytest

from tests.clone import commit, make_clone, sh

FIRST_STAGES = ["raw-scripts", "profiles", "instructions"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory, smollm2_dir):
    return make_clone(tmp_path_factory.mktemp("clone"), smollm2_dir)


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
