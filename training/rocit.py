"""RoCIT: role-conditioned instruction tuning with TRL's SFTTrainer and a PEFT LoRA adapter.

One linear ``train()``: check the gate, load data, tokenizer, model, train, save, summary.
It runs the same in one process and under ``accelerate launch`` (DDP, FSDP, DeepSpeed; see
configs/accelerate/); only the main process writes outputs. Output folder layout::

    <out>/adapter/                 LoRA adapter + tokenizer + chat template (written atomically)
    <out>/merged/                  base + adapter merged (when ``merge: true``)
    <out>/training_summary.json    hyperparameters, data lineage, base model, tokens, loss
    <out>/checkpoints/             Trainer checkpoints; a rerun resumes from the last one
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from rolellm.atomic import write_json
from rolellm.records import check_validation_report
from training.rocit_config import TrainConfig
from training.rocit_data import TrainingSet, lineage, load_training_set
from training.rocit_live import LiveCurves
from training.rocit_model import (
    base_model_identity,
    check_prompts_fit,
    load_model,
    load_tokenizer,
    lora_config,
    resolve_base_model,
)
from training.rocit_outputs import resume_point, run_fingerprint, save_adapter, save_merged
from training.rocit_trainer import build_trainer, participants, sft_config, training_record


@dataclass(frozen=True)
class TrainPaths:
    """Inputs and outputs of one training run (the CLI fills these from its options)."""

    data_dir: Path = Path("data/rolebench")
    out_dir: Path = Path("models/rocit")
    validation_report: Path | None = Path("reports/validation.json")
    metrics: Path | None = Path("metrics/train.json")
    live_dir: Path | None = Path("dvclive/train")
    dvc_lock: Path | None = Path("dvc.lock")

    @property
    def adapter(self) -> Path:
        return self.out_dir / "adapter"

    @property
    def merged(self) -> Path:
        return self.out_dir / "merged"

    @property
    def checkpoints(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def summary(self) -> Path:
        return self.out_dir / "training_summary.json"


@dataclass
class TrainResult:
    adapter_dir: Path
    merged_dir: Path | None
    summary: dict[str, Any]
    is_main: bool = True


def _step_of(checkpoint: str | None) -> int | None:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None


def data_record(
    cfg: TrainConfig, paths: TrainPaths, data: TrainingSet, shards: list[dict[str, Any]]
) -> dict[str, Any]:
    """Data lineage: which shards (with md5), how many rows, samples and roles."""
    return {
        "root": str(paths.data_dir),
        "configs": list(data.per_config),
        "configs_not_built": data.missing_configs,
        "split": cfg.split,
        "shards": shards,
        "rows": data.rows,
        "samples": len(data.samples),
        "samples_per_config": data.per_config,
        "roles": len(data.role_counts),
        "held_out_roles_excluded": data.excluded_roles,
    }


# --- the run -----------------------------------------------------------------------------


def train(
    cfg: TrainConfig, paths: TrainPaths, callbacks: Sequence[TrainerCallback] = ()
) -> TrainResult:
    """Fine-tune ``cfg.base_model`` on RoleBench with RoCIT; see the module docstring."""
    started = time.time()
    if paths.validation_report is not None:
        check_validation_report(paths.validation_report)
    data = load_training_set(
        paths.data_dir,
        cfg.train_configs,
        cfg.split,
        cfg.system_prompt_template,
        cfg.references_per_sample,
    )
    shards = lineage(data.shards, paths.dvc_lock)
    base_ref = resolve_base_model(cfg.base_model)
    tokenizer = load_tokenizer(base_ref, cfg.revision)
    longest_system = check_prompts_fit(data, tokenizer, cfg)
    model = load_model(base_ref, cfg)
    peft_config = lora_config(cfg, model)
    identity = base_model_identity(base_ref, cfg, model, paths.dvc_lock)

    args = sft_config(cfg, paths.checkpoints)
    is_main = args.process_index == 0
    with args.main_process_first(local=False, desc="checkpoints"):
        resume = resume_point(paths.checkpoints, run_fingerprint(cfg, shards), is_main)
    live = [LiveCurves(paths.live_dir, _step_of(resume))] if paths.live_dir and is_main else []
    trainer = build_trainer(cfg, model, tokenizer, data, args, [*live, *callbacks], peft_config)
    output = trainer.train(resume_from_checkpoint=resume)

    save_adapter(trainer, tokenizer, paths.adapter)
    ranks = participants(trainer)
    merged = None
    if is_main and cfg.merge:
        save_merged(base_ref, cfg, paths.adapter, paths.merged)
        merged = paths.merged
    training = training_record(trainer, output, resume, ranks)
    training.update(longest_system_prompt_tokens=longest_system, wall_time_s=time.time() - started)
    summary = {
        "hyperparameters": cfg.model_dump(mode="json"),
        "base_model": identity,
        "data": data_record(cfg, paths, data, shards),
        "training": training,
        "outputs": {"adapter": str(paths.adapter), "merged": str(merged) if merged else None},
        "versions": _versions(),
    }
    if is_main:
        write_json(paths.summary, summary)
        if paths.metrics is not None:
            write_json(paths.metrics, _metrics(training))
    trainer.accelerator.wait_for_everyone()
    return TrainResult(paths.adapter, merged, summary, is_main)


def _metrics(training: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "train_loss",
        "final_loss",
        "tokens_seen",
        "tokens_per_second",
        "train_runtime_s",
        "global_steps",
        "samples",
    )
    return {key: training[key] for key in keys}


def _versions() -> dict[str, str]:
    import accelerate
    import peft
    import transformers
    import trl

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
    }
