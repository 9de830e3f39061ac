"""Training curves with DVCLive, for `dvc plots show` and `dvc metrics show`.

Per-step values go to ``<dir>/plots/metrics/train/<name>.tsv`` with the trainer's global step
as ``step`` (loss, learning_rate, grad_norm, entropy, mean_token_accuracy, num_tokens);
run-level values (train_runtime, train_loss, ...) go to ``<dir>/metrics.json`` only. A
resumed run appends to the same curves after dropping the rows past its checkpoint.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

PREFIX = "train"


def _files_only_live(live_dir: Path, resume: bool) -> Any:
    """A DVCLive ``Live`` that only writes files outside `dvc repro` / `dvc exp run`.

    Left alone, DVCLive runs `dvc init` in an enclosing git repository that has no DVC
    project yet, and sets up experiment bookkeeping; neither belongs in a library call.
    """
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self) -> None:
            if os.getenv("DVC_ROOT"):
                super()._init_dvc()
            else:
                self._dvc_file = self._init_dvc_file()

    return FilesOnlyLive(dir=str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=None)


def trim_curves(live_dir: Path, last_step: int) -> None:
    """Drop rows logged after ``last_step`` (work lost since the checkpoint is redone)."""
    for tsv in (Path(live_dir) / "plots" / "metrics").rglob("*.tsv"):
        with tsv.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        col = rows[0].index("step")
        kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[col])) <= last_step]
        with tsv.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(kept)


class LiveCurves(TrainerCallback):
    """Log the trainer's logs to DVCLive, keyed by global step (main process only)."""

    def __init__(self, live_dir: Path, resume_step: int | None = None) -> None:
        if resume_step is not None:
            trim_curves(live_dir, resume_step)
        self.live = _files_only_live(live_dir, resume=resume_step is not None)

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        if not state.is_world_process_zero or not logs:
            return
        self.live.step = state.global_step
        for key, value in logs.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            final = key.startswith("train_") or key == "total_flos"
            self.live.log_metric(key if final else f"{PREFIX}/{key}", value, plot=not final)
        self.live.make_summary()

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:
            self.live.end()
