"""Local backend: transformers on CPU or GPU with real batching.

Requests are sorted by prompt length into batches (left padding) so little compute is spent
on padding. Sampling draws from one torch.Generator per row, seeded by the call, inside a
logits processor; generation itself then runs greedy over the chosen token. Each row's
tokens therefore depend only on its own seed, never on which other requests share its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LogitsProcessor

from rolellm.config import LocalBackendConfig
from rolellm.engine.identity import model_identity
from rolellm.engine.progress import progress_bar
from rolellm.engine.types import Call, SamplingParams
from rolellm.errors import InputError

Done = Callable[[int, str | None, str | None], None]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class SeededSampler(LogitsProcessor):
    """Temperature + top-p sampling with one generator per row; returns a one-hot choice."""

    def __init__(self, sampling: SamplingParams, seeds: Sequence[int], device: torch.device):
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


class LocalBackend:
    """Loads the model lazily: a run whose calls are all cached never pays for loading it."""

    kind = "local"

    def __init__(self, cfg: LocalBackendConfig):
        self.cfg = cfg
        self.identity = model_identity(cfg.model, cfg.revision)
        if cfg.adapter:
            self.identity += "+adapter:" + model_identity(cfg.adapter)
        self._loaded = None

    @property
    def tokenizer(self):
        return self._load()[0]

    @property
    def model(self):
        return self._load()[1]

    def _load(self):
        if self._loaded is None:
            tokenizer, model = load_model(self.cfg)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._loaded = (tokenizer, model)
            self.eos_ids = self._eos_ids()
        return self._loaded

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def render(self, call: Call) -> list[int]:
        return self.tokenizer.apply_chat_template(
            list(call.request.messages),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )

    def run(self, calls: list[Call], done: Done) -> None:
        """Generate every call; report each as done(index, text, error)."""
        if not calls:
            return
        prompts: dict[int, list[int]] = {}
        for i, call in enumerate(calls):
            ids = self.render(call)
            if len(ids) > self.cfg.max_input_tokens:
                done(i, None, f"prompt has {len(ids)} tokens, over engine.local.max_input_tokens")
            else:
                prompts[i] = ids
        with progress_bar(len(prompts), f"generating ({Path(self.cfg.model).name})") as advance:
            for batch in self._batches(calls, prompts):
                self._run_batch(batch, calls, prompts, done)
                advance(len(batch))

    def _batches(self, calls: list[Call], prompts: dict[int, list[int]]) -> list[list[int]]:
        """Group by sampling parameters, then sort by prompt length, then cut."""

        def sort_key(i: int) -> tuple:
            sp = calls[i].request.sampling
            return (sp.temperature, sp.top_p, sp.max_new_tokens, len(prompts[i]))

        batches: list[list[int]] = []
        for i in sorted(prompts, key=sort_key):
            last = batches[-1] if batches else None
            same = last and calls[last[0]].request.sampling == calls[i].request.sampling
            if same and len(last) < self.cfg.batch_size:
                last.append(i)
            else:
                batches.append([i])
        return batches

    def _run_batch(self, batch: list[int], calls: list[Call], prompts: dict, done: Done) -> None:
        sampling = calls[batch[0]].request.sampling
        try:
            texts = self.generate_ids(
                [prompts[i] for i in batch], sampling, [calls[i].seed for i in batch]
            )
        except (RuntimeError, ValueError) as err:
            for i in batch:
                done(i, None, f"local generation failed: {type(err).__name__}: {err}")
            return
        for i, text in zip(batch, texts, strict=True):
            done(i, text, None)

    @torch.inference_mode()
    def generate_ids(
        self, prompts: list[list[int]], sampling: SamplingParams, seeds: list[int]
    ) -> list[str]:
        enc = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.model.device)
        processors = [] if sampling.greedy else [SeededSampler(sampling, seeds, self.model.device)]
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            eos_token_id=self.eos_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        out = self.model.generate(**enc, generation_config=config, logits_processor=processors)
        new = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
