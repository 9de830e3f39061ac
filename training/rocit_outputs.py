"""RoCIT's files: checkpoints (fingerprinted, resumed), the adapter and merged model written.

Layout under the run's output folder: see training/rocit.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from trl import SFTTrainer

from rolellm.atomic import atomic_path, write_json
from training.rocit_config import TrainConfig
from training.rocit_model import DTYPES

FINGERPRINT_FILE = "run_fingerprint.json"


# --- checkpoints -------------------------------------------------------------------------


def run_fingerprint(cfg: TrainConfig, shards: list[dict[str, Any]]) -> str:
    """What a checkpoint depends on; a run with another fingerprint starts afresh.

    Length knobs (epochs, max_steps) and output knobs are left out, so an interrupted run
    can be resumed and extended.
    """
    keep = cfg.model_dump(
        mode="json",
        exclude={"epochs", "max_steps", "save_steps", "save_total_limit", "logging_steps", "merge"},
    )
    blob = json.dumps({"config": keep, "data": [s["md5"] for s in shards]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _checkpoints(folder: Path) -> tuple[list[Path], list[Path]]:
    """(complete checkpoints by step, incomplete ones newer than the last complete)."""
    found = [p for p in folder.glob("checkpoint-*") if p.name.rpartition("-")[2].isdigit()]
    found.sort(key=lambda p: int(p.name.rpartition("-")[2]))
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    last = int(complete[-1].name.rpartition("-")[2]) if complete else -1
    return complete, [
        p for p in found if p not in complete and int(p.name.rpartition("-")[2]) > last
    ]


def resume_point(checkpoints: Path, fingerprint: str, is_main: bool) -> str | None:
    """The last complete checkpoint of the same run, or None; stale checkpoints are removed.

    A checkpoint is complete once the Trainer wrote its trainer_state.json (its last file);
    one cut short by a kill is deleted, so the next run resumes from the one before.

    The main process runs this first; the others then see the folder it left behind.
    """
    stamp = checkpoints / FINGERPRINT_FILE
    same = stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    complete, partial = _checkpoints(checkpoints)
    if complete and same:
        if is_main:
            for folder in partial:
                shutil.rmtree(folder, ignore_errors=True)
        return str(complete[-1])
    if is_main:
        if checkpoints.is_dir():
            shutil.rmtree(checkpoints)
        checkpoints.mkdir(parents=True)
        write_json(stamp, {"fingerprint": fingerprint})
    return None


# --- outputs -----------------------------------------------------------------------------


def publish_dir(staging: Path, target: Path) -> None:
    """Move a finished folder onto ``target`` in one rename (the old one goes after)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def save_adapter(trainer: SFTTrainer, tokenizer: PreTrainedTokenizerBase, target: Path) -> None:
    """All ranks take part (FSDP/ZeRO-3 gather the weights); the main process writes."""
    accelerator = trainer.accelerator
    staging = target.with_name(f".{target.name}.partial")
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        trainer.save_model(str(staging))
        if accelerator.is_main_process:
            tokenizer.save_pretrained(str(staging))
            (staging / "training_args.bin").unlink(missing_ok=True)
            publish_dir(staging, target)
    finally:
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_merged(base_ref: str, cfg: TrainConfig, adapter: Path, target: Path) -> None:
    """Reload base + adapter from disk, merge, write atomically (main process only)."""
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(
        base_ref, revision=cfg.revision, dtype=DTYPES[cfg.dtype]
    )
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    with atomic_path(target) as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
