"""Benchmark: RoCIT training throughput (real tokens per second).

Same data, model, LoRA config and batch through

  (a) a plain TRL ``SFTTrainer`` script written here, padding-free batches;
  (b) our code path, ``training.rocit.train``, padding-free batches (the default);
  (c) our code path with padded batches;
  (d) with --same-attention: (b) on plain ``sdpa``, TRL's attention, to show the overhead alone;

on varied-length role-play chat data. Throughput is measured between the end of the warm-up
steps and the end of the run, so model loading, tokenisation and saving are left out; each
configuration runs ``--rounds`` times in alternating order and keeps its best. With one torch
thread (the default) the ratios use the process's CPU time, which neighbours on shared cores
barely disturb; wall-clock rates are reported too.
The last line printed is JSON::

    {"ratio_vs_trl": b / a, "padding_free_speedup": b / c, ...}

Goals: ratio_vs_trl >= 0.95, padding_free_speedup >= 1.2. Our padding-free path runs
per-sample attention (``sdpa_varlen``, training/rocit_attention.py) where TRL's default
attends over the whole packed row, so (b) is expected to beat (a), not just match it.
Model: models/smollm2 when present (else the embedded GGUF is converted to a temporary
folder; else a random Llama).

    .venv/bin/python -m benchmarks.training [--steps 3] [--rounds 1] [--batch 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import TrainerCallback

from training.rocit import TrainPaths, train
from training.rocit_config import TrainConfig
from training.rocit_data import load_training_set

WORDS = [
    "the", "prince", "ghost", "night", "castle", "sword", "letter", "king", "queen", "friend",
    "honour", "madness", "poison", "revenge", "love", "fortune", "heaven", "earth", "tomorrow",
    "speak", "think", "dream", "sleep", "death", "life", "play",
]  # fmt: skip
CONFIG = "eng_instruction_generalization_general"


class Throughput(TrainerCallback):
    """Real tokens per second after ``warmup`` optimizer steps, by CPU time and wall time."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: tuple[float, float, int] | None = None
        self.end: tuple[float, float, int] | None = None

    def on_step_end(self, args, state, control, **kwargs) -> None:
        mark = (time.process_time(), time.perf_counter(), state.num_input_tokens_seen)
        if state.global_step == self.warmup:
            self.start = mark
        self.end = mark

    def rate(self, clock: int) -> float:
        assert self.start and self.end and self.end[clock] > self.start[clock]
        return (self.end[2] - self.start[2]) / (self.end[clock] - self.start[clock])

    @property
    def tokens_per_cpu_s(self) -> float:
        return self.rate(0)

    @property
    def tokens_per_wall_s(self) -> float:
        return self.rate(1)


def write_data(root: Path, rows: int, seed: int) -> Path:
    """A RoleBench folder with answers of 5 to 120 words (varied lengths)."""
    rng = random.Random(seed)
    roles = [
        {
            "name": name,
            "slug": name.lower(),
            "lang": "en",
            "held_out": False,
            "description": f"{name}, a character of the play, speaks in riddles and verse.",
            "catchphrases": ["Words, words, words"],
        }
        for name in ("Hamlet", "Ophelia", "Horatio")
    ]
    (root / "data" / CONFIG).mkdir(parents=True, exist_ok=True)
    (root / "roles.json").write_text(json.dumps(roles), encoding="utf-8")

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    records = [
        {
            "role": roles[i % 3]["name"],
            "question": text(rng.randint(6, 30)).rstrip(".") + "?",
            "generated": [text(rng.choice([5, 10, 20, 40, 80, 120]))],
            "reference": "",
            "kind": "bench",
        }
        for i in range(rows)
    ]
    pd.DataFrame(records).to_parquet(root / "data" / CONFIG / "train.parquet")
    (root / "validation.json").write_text('{"success": true}', encoding="utf-8")
    return root


def find_model(work: Path) -> tuple[Path, str]:
    local = Path("models/smollm2")
    if (local / "config.json").is_file():
        return local, "smollm2"
    try:
        from rolellm.engine.embedded import materialise_embedded_model

        return materialise_embedded_model(work / "smollm2"), "smollm2 (materialised)"
    except Exception:  # no embedded model here: a random Llama with a small BPE
        return random_llama(work / "random-llama"), "random llama"


def random_llama(out: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([" ".join(WORDS)] * 50, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    fast.chat_template = (
        "{% for m in messages %}"
        "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=256, intermediate_size=768, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, eos_token_id=fast.eos_token_id,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def plain_trl(cfg: TrainConfig, data: Path, out: Path, callback: Throughput) -> None:
    """(a) What a user would write with TRL directly: same samples, LoRA, batch, schedule."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    samples = load_training_set(data, cfg.train_configs, cfg.split, cfg.system_prompt_template)
    args = SFTConfig(
        output_dir=str(out),
        max_length=None,
        padding_free=True,
        per_device_train_batch_size=cfg.per_device_batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        max_steps=cfg.max_steps,
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        seed=cfg.seed,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=not torch.cuda.is_available(),
        include_num_input_tokens_seen="all",
        report_to="none",
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="auto"),
        args=args,
        train_dataset=Dataset.from_list(samples.samples),
        processing_class=AutoTokenizer.from_pretrained(cfg.base_model),
        peft_config=LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=list(cfg.lora.target_modules),
            task_type="CAUSAL_LM",
        ),
        callbacks=[callback],
    )
    trainer.train()


def ours(cfg: TrainConfig, data: Path, out: Path, callback: Throughput) -> dict[str, Any]:
    """(b)/(c) The `rolellm train` code path, DVCLive curves and all."""
    paths = TrainPaths(
        data_dir=data,
        out_dir=out,
        validation_report=data / "validation.json",
        metrics=out / "metrics.json",
        live_dir=out / "dvclive",
        dvc_lock=None,
    )
    return train(cfg, paths, callbacks=[callback]).summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="measured optimizer steps")
    parser.add_argument("--rounds", type=int, default=1, help="runs per configuration (best kept)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--same-attention",
        action="store_true",
        help="also run our path on plain sdpa (TRL's attention) to isolate its overhead",
    )
    # One intra-op thread by default: on shared, oversubscribed cores two threads run the
    # same step 4-5x slower and far less repeatably. 0 keeps torch's default.
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    ns = parser.parse_args()
    if ns.threads:
        torch.set_num_threads(ns.threads)
    steps = ns.warmup + ns.steps
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        work = Path(tmp)
        data = write_data(work / "rolebench", rows=ns.batch * steps, seed=0)
        model, model_name = find_model(work)
        cfg = TrainConfig(
            base_model=str(model),
            train_configs=(CONFIG,),
            max_steps=steps,
            per_device_batch_size=ns.batch,
            max_length=1024,
            logging_steps=1,
            save_steps=10_000,
            batching="padding_free",
        )
        runs = [
            ("trl_padding_free", plain_trl, {"batching": "padding_free"}),
            ("ours_padding_free", ours, {"batching": "padding_free"}),
            ("ours_padded", ours, {"batching": "padded"}),
        ]
        if ns.same_attention:  # our path on TRL's own attention: overhead alone
            runs.append(("ours_padding_free_sdpa", ours, {"attn_implementation": "sdpa"}))
        cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        for round_ in range(ns.rounds):  # alternate the order; keep each config's best
            for name, run, update in runs if round_ % 2 == 0 else runs[::-1]:
                meter = Throughput(ns.warmup)
                out = work / f"{name}-{round_}"  # a fresh folder: never resume a finished run
                run(cfg.model_copy(update=update), data, out, meter)
                cpu[name] = max(cpu.get(name, 0.0), meter.tokens_per_cpu_s)
                wall[name] = max(wall.get(name, 0.0), meter.tokens_per_wall_s)
                print(
                    f"{name}: {meter.tokens_per_cpu_s:.1f} tokens/cpu-s, "
                    f"{meter.tokens_per_wall_s:.1f} tokens/wall-s",
                    flush=True,
                )
    # The ratios use CPU time when torch runs one thread: on shared cores wall time mostly
    # measures the neighbours, while one thread's CPU time is what the step costs an idle core.
    rates = cpu if torch.get_num_threads() == 1 else wall
    trl = rates["trl_padding_free"]
    summary = {
        "ratio_vs_trl": round(rates["ours_padding_free"] / trl, 3),
        "padding_free_speedup": round(rates["ours_padding_free"] / rates["ours_padded"], 3),
        "clock": "cpu" if rates is cpu else "wall",
        **(
            {"ratio_vs_trl_same_attention": round(rates["ours_padding_free_sdpa"] / trl, 3)}
            if ns.same_attention
            else {}
        ),
        "tokens_per_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "tokens_per_wall_s": {k: round(v, 1) for k, v in wall.items()},
        "model": model_name,
        "batch": ns.batch,
        "measured_steps": ns.steps,
        "rounds": ns.rounds,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
