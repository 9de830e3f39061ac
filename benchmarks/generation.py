"""Benchmark: the local engine against raw `model.generate`, same prompts, greedy.

(a) one prompt at a time, (b) raw batched generate at the engine's batch size (prompts in
their given order, left padded), (c) the engine with a cold cache (sorts by length, caches
every reply); and, on a RoleGPT-shaped load (long prompts, 6 samples each), (d) the engine
against itself with prompt-prefill sharing switched off. Prints one JSON line last with the
time ratios.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from rolellm.engine import hf_model
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.embedded import materialise_embedded_model
from rolellm.engine.engine import build_engine
from rolellm.engine.types import Call, ChatRequest
from rolellm.sections import Sampling

BATCH = 16
NEW_TOKENS = 24
TOPICS = [
    "the sea",
    "a king",
    "ghosts",
    "friendship",
    "winter",
    "a long journey",
    "music",
    "courage",
    "the stars",
    "a garden",
]


def _prompts() -> list[str]:
    prompts = []
    for i in range(32):
        topic = TOPICS[i % len(TOPICS)]
        detail = " Please explain your reasons carefully and give an example." * (i % 4)
        prompts.append(f"In one sentence, what do you think about {topic}?{detail}")
    return prompts


PERSONA = (
    "You are Hamlet, the Prince of Denmark: brooding, witty, grieving his father and "
    "distrustful of his uncle Claudius, who took the crown and married his mother. "
)
SAMPLES = 6


def _rolegpt_requests() -> list[ChatRequest]:
    """Long system prompt + demonstrations, short replies, n samples: RoleGPT's shape."""
    demos = []
    for i in range(3):
        demos += [
            {"role": "user", "content": f"HORATIO: My lord, what of scene {i}? " * 6},
            {"role": "assistant", "content": "Words, words, words; the rest is silence. " * 4},
        ]
    sampling = Sampling(temperature=0.7, max_new_tokens=48)
    return [
        ChatRequest.of(
            [{"role": "system", "content": PERSONA * 4}, *demos, {"role": "user", "content": q}],
            sampling=sampling,
            seed=i,
            n=SAMPLES,
        )
        for i, q in enumerate(f"What do you think about {t}?" for t in TOPICS[:8])
    ]


def _shared_prefill_speedup(cfg: EngineConfig, tmp: str) -> tuple[float, dict]:
    requests = _rolegpt_requests()
    shared_engine = build_engine(cfg.model_copy(update={"cache_dir": f"{tmp}/a"}), "shared")
    plain_engine = build_engine(cfg.model_copy(update={"cache_dir": f"{tmp}/b"}), "plain")
    shared = _timed(lambda: shared_engine.generate(requests))
    real_unique = hf_model._unique
    hf_model._unique = lambda prompts: (prompts, list(range(len(prompts))))
    try:
        plain = _timed(lambda: plain_engine.generate(requests))
    finally:
        hf_model._unique = real_unique
    return plain / shared, {"shared_prefill": round(shared, 2), "no_sharing": round(plain, 2)}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    model_dir = materialise_embedded_model(Path("models/smollm2"))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EngineConfig(
            local=LocalBackendConfig(model=str(model_dir), batch_size=BATCH), cache_dir=tmp
        )
        engine = build_engine(cfg, "gen-bench")
        backend = engine.backend
        tok, model = backend.tokenizer, backend.model
        messages = [[{"role": "user", "content": p}] for p in _prompts()]
        requests = [
            ChatRequest.of(m, sampling=Sampling(max_new_tokens=NEW_TOKENS)) for m in messages
        ]
        ids = [backend.render(Call(r, 0)) for r in requests]
        eos = backend.eos_ids

        @torch.inference_mode()
        def raw(prompts: list[list[int]]) -> None:
            enc = tok.pad({"input_ids": prompts}, return_tensors="pt")
            model.generate(
                **enc,
                max_new_tokens=NEW_TOKENS,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tok.pad_token_id,
            )

        raw(ids[:2])  # warm-up
        sequential = _timed(lambda: [raw([p]) for p in ids])
        batched = _timed(lambda: [raw(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)])
        engine_time = _timed(lambda: engine.generate(requests))
        assert engine.stats.cache_misses == len(requests)
        sharing, sharing_seconds = _shared_prefill_speedup(cfg, tmp)
    print(
        json.dumps(
            {
                "engine_vs_raw_batched": round(batched / engine_time, 3),
                "engine_vs_sequential": round(sequential / engine_time, 3),
                "shared_prefill_speedup": round(sharing, 3),
                "prompts": len(requests),
                "batch_size": BATCH,
                "new_tokens": NEW_TOKENS,
                "seconds": {
                    "sequential": round(sequential, 2),
                    "raw_batched": round(batched, 2),
                    "engine_cold": round(engine_time, 2),
                    **sharing_seconds,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
