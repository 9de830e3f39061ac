"""RoCIT's trainer: TRL arguments, TRL's SFTTrainer with the LoRA adapter, what the run did."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import SFTConfig, SFTTrainer

from training.rocit_config import TrainConfig
from training.rocit_data import TrainingSet
from training.rocit_model import lora_config


def _has_accelerator() -> bool:
    xpu = hasattr(torch, "xpu") and torch.xpu.is_available()
    return torch.cuda.is_available() or xpu or torch.backends.mps.is_available()


def sft_config(cfg: TrainConfig, checkpoints: Path) -> SFTConfig:
    """TRL arguments. Padding-free batches need pre-truncated samples and max_length=None."""
    precision = cfg.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    padded = cfg.batching == "padded"
    return SFTConfig(
        output_dir=str(checkpoints),
        completion_only_loss=True,
        max_length=None if cfg.batching == "padding_free" else cfg.max_length,
        padding_free=cfg.batching == "padding_free",
        packing=cfg.batching == "packing",
        packing_strategy="bfd",
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=cfg.gradient_checkpointing,
        use_cpu=not _has_accelerator(),
        include_num_input_tokens_seen="non_padding" if padded else "all",
        ddp_find_unused_parameters=False,
        report_to="none",
    )


def truncate_examples(dataset: Dataset, max_length: int) -> Dataset:
    """Keep the first ``max_length`` tokens (TRL's keep_start) and drop fully masked rows."""

    def cut(example: dict[str, Any]) -> dict[str, Any]:
        return {
            "input_ids": example["input_ids"][:max_length],
            "labels": example["labels"][:max_length],
        }

    dataset = dataset.map(cut)
    return dataset.filter(lambda example: any(label != -100 for label in example["labels"]))


def build_trainer(
    cfg: TrainConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: TrainingSet,
    args: SFTConfig,
    callbacks: Sequence[TrainerCallback] = (),
    peft_config: LoraConfig | None = None,
) -> SFTTrainer:
    """TRL's SFTTrainer on the prompt/completion samples, with the LoRA adapter attached."""
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(data.samples),
        processing_class=tokenizer,
        peft_config=peft_config or lora_config(cfg, model),
        callbacks=list(callbacks),
    )
    if cfg.batching == "padding_free":
        trainer.train_dataset = truncate_examples(trainer.train_dataset, cfg.max_length)
    return trainer


def final_loss(log_history: list[dict[str, Any]], train_loss: float) -> float:
    """The last logged step loss (the run's mean loss when no step was logged)."""
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return float(losses[-1]) if losses else train_loss


def participants(trainer: SFTTrainer) -> list[dict[str, int]]:
    """One record per process that took part (gathered from every rank)."""
    from accelerate.utils import gather_object

    me = {"rank": trainer.accelerator.process_index, "pid": os.getpid()}
    return sorted(gather_object([me]), key=lambda p: p["rank"])


def training_record(
    trainer: SFTTrainer, output: Any, resume: str | None, ranks: list[dict[str, int]]
) -> dict[str, Any]:
    """What the run did: processes, steps, tokens, loss, speed."""
    state = trainer.state
    runtime = float(output.metrics.get("train_runtime", 0.0))
    return {
        "world_size": trainer.args.world_size,
        "processes": ranks,
        "global_steps": state.global_step,
        "epochs": state.epoch,
        "samples": len(trainer.train_dataset),
        "tokens_seen": int(state.num_input_tokens_seen),
        "train_loss": float(output.training_loss),
        "final_loss": final_loss(state.log_history, float(output.training_loss)),
        "train_runtime_s": runtime,
        "tokens_per_second": state.num_input_tokens_seen / runtime if runtime else None,
        "resumed_from": Path(resume).name if resume else None,
    }
