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

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
)
from trl import SFTConfig, SFTTrainer

from rolellm.atomic import atomic_path, write_json
from rolellm.errors import ConfigError, InputError
from rolellm.records import check_validation_report
from training import rocit_attention
from training.prompts import render_system_prompt
from training.rocit_config import TrainConfig
from training.rocit_data import TrainingSet, lineage, load_training_set
from training.rocit_live import LiveCurves

FINGERPRINT_FILE = "run_fingerprint.json"
_DTYPES = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


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


# --- base model --------------------------------------------------------------------------


def resolve_base_model(ref: str) -> str:
    """A local folder (returned as is) or a Hub id (passed through to from_pretrained)."""
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"base model {ref!r} is a file, expected a model folder")
        return str(path)
    first = ref.split("/", 1)[0]
    local_looking = (
        path.is_absolute()
        or ref.startswith((".", "~"))
        or "\\" in ref
        or ref.count("/") > 1
        or (ref.count("/") == 1 and Path(first).is_dir())
    )
    if local_looking:
        raise InputError(f"base model folder not found: {ref}")
    return ref


def _load_error(ref: str, err: Exception) -> InputError:
    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    hint = " (for the embedded default run `rolellm prepare-model`)" if "/" in ref else ""
    return InputError(f"base model {ref!r} could not be loaded{hint}: {first_line[:200]}")


def load_tokenizer(ref: str, revision: str | None) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref, revision=revision)
    except (OSError, ValueError) as err:
        raise _load_error(ref, err) from None
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"base model {ref!r}: tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def attention_for(cfg: TrainConfig) -> str | None:
    """Padding-free and packed batches default to per-sample SDPA (see rocit_attention)."""
    attn = cfg.attn_implementation
    if attn == rocit_attention.NAME or (attn is None and cfg.batching != "padded"):
        return rocit_attention.register()
    return attn


def load_model(ref: str, cfg: TrainConfig) -> PreTrainedModel:
    kwargs: dict[str, Any] = {"revision": cfg.revision, "dtype": _DTYPES[cfg.dtype]}
    attn = attention_for(cfg)
    if attn:
        kwargs["attn_implementation"] = attn
    try:
        return AutoModelForCausalLM.from_pretrained(ref, **kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(ref, err) from None


# --- checks ------------------------------------------------------------------------------


def check_prompts_fit(
    data: TrainingSet, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig
) -> int:
    """Raise when ``max_length`` cannot hold the longest system prompt; return its length."""
    longest, who = 0, ""
    for name in data.role_counts:
        system = [
            {
                "role": "system",
                "content": render_system_prompt(data.roles[name], cfg.system_prompt_template),
            }
        ]
        n = len(tokenizer.apply_chat_template(system, tokenize=True, return_dict=True)["input_ids"])
        if n > longest:
            longest, who = n, name
    if cfg.max_length <= longest:
        raise ConfigError(
            f"train.max_length={cfg.max_length} is shorter than the longest system prompt "
            f"({longest} tokens, role {who!r}); raise max_length or shorten system_prompt_template"
        )
    return longest


def lora_config(cfg: TrainConfig, model: PreTrainedModel) -> LoraConfig:
    """The PEFT LoRA config; every named target module must exist in the model."""
    targets = list(cfg.lora.target_modules)
    if targets != ["all-linear"]:
        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in targets if t not in names]
        if missing:
            linear = sorted(
                {
                    n.rsplit(".", 1)[-1]
                    for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear)
                }
            )
            raise ConfigError(
                f"train.lora.target_modules: {missing} not in the model; linear layers: {linear}"
            )
    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )


# --- trainer -----------------------------------------------------------------------------


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
        base_ref, revision=cfg.revision, dtype=_DTYPES[cfg.dtype]
    )
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    with atomic_path(target) as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))


def base_model_identity(
    ref: str, cfg: TrainConfig, model: PreTrainedModel, dvc_lock: Path | None
) -> dict[str, Any]:
    local = Path(ref).is_dir()
    identity: dict[str, Any] = {
        "ref": cfg.base_model,
        "revision": cfg.revision,
        "local": local,
        "model_type": model.config.model_type,
        "architectures": list(model.config.architectures or []),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if local:
        config_md5 = lineage([Path(ref) / "config.json"], None)[0]["md5"]
        folder = lineage([Path(ref)], dvc_lock)[0]
        identity["config_md5"] = config_md5
        if folder["source"] == "dvc.lock":
            identity["dvc_md5"] = folder["md5"]
    return identity


def _step_of(checkpoint: str | None) -> int | None:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None


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


def data_record(
    cfg: TrainConfig, paths: TrainPaths, data: TrainingSet, shards: list[dict[str, Any]]
) -> dict[str, Any]:
    """Data lineage: which shards (with md5), how many rows, samples and roles."""
    return {
        "root": str(paths.data_dir),
        "configs": list(cfg.train_configs),
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
