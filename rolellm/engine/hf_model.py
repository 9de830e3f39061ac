"""The torch/transformers half of the local backend (imported only when a model loads).

Sampling draws from one torch.Generator per row, seeded by the call, inside a logits
processor; generation itself then runs greedy over the chosen token. Each row's tokens
therefore depend only on its own seed, never on which other requests share its batch.

Rows of one batch that share a prompt (the n samples of one request) share its prefill:
the prompt is run once, its KV cache copied to each sample, and `generate` continues from
there. RoleGPT asks for 6 samples of prompts much longer than the replies, so this saves
most of its compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
)

from rolellm.engine.config import LocalBackendConfig
from rolellm.errors import InputError
from rolellm.sections import Sampling

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class SeededSampler(LogitsProcessor):
    """Temperature + top-p sampling with one generator per row; returns a one-hot choice."""

    def __init__(self, sampling: Sampling, seeds: Sequence[int], device: torch.device):
        self.temperature = sampling.temperature
        self.top_p = sampling.top_p
        self.generators = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
        self.device = device

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            probs = _top_p(probs, self.top_p)
        choice = torch.stack(
            [
                torch.multinomial(row, 1, generator=g)
                for row, g in zip(probs, self.generators, strict=True)
            ]
        )
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, choice.to(scores.device), 0.0)


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep = sorted_probs.cumsum(dim=-1) - sorted_probs < top_p
    sorted_probs = sorted_probs * keep
    return torch.zeros_like(probs).scatter_(1, order, sorted_probs)


def _device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return _DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(cfg: LocalBackendConfig):
    source = cfg.model
    looks_local = (
        source.startswith((".", "/", "~")) or Path(source).exists() or source.count("/") != 1
    )
    if looks_local and not Path(source).expanduser().is_dir():
        raise InputError(f"engine.local.model: model folder {source!r} not found")
    device = _device(cfg.device)
    kwargs = {"revision": cfg.revision} if cfg.revision else {}
    tokenizer = AutoTokenizer.from_pretrained(source, padding_side="left", **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=_dtype(cfg.dtype, device), **kwargs)
    if cfg.adapter:
        model = _with_adapter(model, cfg.adapter)
    return tokenizer, model.to(device).eval()


def _with_adapter(model, adapter: str):
    from peft import PeftModel

    if adapter.startswith((".", "/", "~")) and not Path(adapter).expanduser().is_dir():
        raise InputError(f"engine.local.adapter: adapter folder {adapter!r} not found")
    return PeftModel.from_pretrained(model, adapter)


@torch.inference_mode()
def generate_texts(
    tokenizer,
    model,
    eos_ids: list[int],
    prompts: list[list[int]],
    sampling: Sampling,
    seeds: list[int],
    constraints: Sequence[LogitsProcessor] = (),
) -> list[str]:
    """One left-padded batch through `model.generate`; returns the decoded new text per row.

    `constraints` (a JSON schema mask) run before the sampler: it draws from what they allow.
    """
    unique, rows = _unique(prompts)
    enc = tokenizer.pad({"input_ids": unique}, return_tensors="pt").to(model.device)
    extra = {}
    if len(unique) < len(prompts) and enc["input_ids"].shape[1] > 1:
        extra["cache"] = _prefill(model, enc, torch.tensor(rows, device=model.device))
    if len(unique) < len(prompts):
        enc = {key: value[rows] for key, value in enc.items()}
    processors = list(constraints)
    if not sampling.greedy:
        processors.append(SeededSampler(sampling, seeds, model.device))
    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=False,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = model.generate(**enc, **extra, generation_config=config, logits_processor=processors)
    new = out[:, enc["input_ids"].shape[1] :]
    # a byte-level tokenizer cut off by max_new_tokens may end inside a character: only the
    # complete characters are returned
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    return [t.rstrip("\ufffd").strip() for t in texts]


def _unique(prompts: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """The distinct prompts (first-seen order) and, per row, the index of its prompt."""
    first: dict[tuple[int, ...], int] = {}
    rows = [first.setdefault(tuple(p), len(first)) for p in prompts]
    return [list(p) for p in first], rows


def _prefill(model, enc, rows: torch.Tensor) -> DynamicCache:
    """KV cache of every distinct prompt but its last token, copied out to `rows`; generate
    then runs that last token, exactly as it would after its own prefill."""
    mask = enc["attention_mask"][:, :-1]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    cache = DynamicCache(config=model.config)
    model(
        input_ids=enc["input_ids"][:, :-1],
        attention_mask=mask,
        position_ids=positions,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,  # only the cache is wanted; Gemma's 262k-word head is costly
    )
    cache.reorder_cache(rows)
    return cache
