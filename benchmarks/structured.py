"""Benchmark: schema-constrained JSON decoding against prompt-and-validate, same prompts, same
model (the embedded SmolLM2), same seeds.

Loads: personas of eight embedded-play roles that have no hand-written persona, and
Context-Instruct script-based requests (two scene segments each), as the
stages build them. Each load runs twice with a cold cache and `json_retries: 0`, once with
`engine.local.constrained_json` on and once off, so every reply is a first attempt. Reports
per mode: first-attempt schema validity, generated tokens per second, time per decode step
(the whole load is one batch), wall time; and the ratios constrained / free. Prints one JSON
line last.

    .venv/bin/python -m benchmarks.structured [--roles 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dataset_builder.context_instruct import script_based_requests
from dataset_builder.context_instruct_config import ContextInstructConfig
from dataset_builder.describe import DescribeConfig, persona_request
from dataset_builder.raw_scripts import materialise_plays
from dataset_builder.scripts.detect import parse_script
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.embedded import materialise_embedded_model
from rolellm.engine.engine import build_engine
from rolellm.engine.types import ChatRequest
from rolellm.records import Role

ROLES = [  # none of them has an entry in data/personas.yaml
    ("HORATIO", "hamlet"),
    ("POLONIUS", "hamlet"),
    ("BANQUO", "macbeth"),
    ("IAGO", "othello"),
    ("MERCUTIO", "romeo-and-juliet"),
    ("PROSPERO", "the-tempest"),
    ("DESDEMONA", "othello"),
    ("ROSALIND", "as-you-like-it"),
]


def _loads(count: int, plays_dir: Path) -> dict[str, list[ChatRequest]]:
    chosen = ROLES[:count]
    materialise_plays(sorted({play for _, play in chosen}), plays_dir)
    scripts = {play: parse_script(plays_dir / f"{play}.md") for _, play in chosen}
    describe = DescribeConfig()
    context = ContextInstructConfig(max_segments=2)
    personas, items = [], []
    for i, (name, play) in enumerate(chosen):
        own = [line for line in scripts[play] if line.role == name]
        personas.append(persona_request(name, play.replace("-", " ").title(), own, describe, i))
        role = Role(name=name, slug=name.lower())
        items += [req for req, _ in script_based_requests(role, scripts[play], context)]
    return {"personas": personas, "context_instruct": items}


def _run(model_dir: Path, requests: list[ChatRequest], constrained: bool, cache: str) -> dict:
    # one batch, so the decode steps are the longest reply's tokens (plus its end token)
    local = LocalBackendConfig(
        model=str(model_dir), constrained_json=constrained, batch_size=len(requests)
    )
    cfg = EngineConfig(local=local, json_retries=0, cache_dir=cache)
    engine = build_engine(cfg, "structured-bench")
    tokenizer = engine.backend.tokenizer  # load the model outside the timed part
    start = time.perf_counter()
    results = engine.generate(requests)
    seconds = time.perf_counter() - start
    replies = [reply for result in results for reply in result.replies]
    lengths = [len(tokenizer.encode(r.text or "", add_special_tokens=False)) for r in replies]
    tokens, steps = sum(lengths), max(lengths) + 1
    engine.close()
    valid = sum(1 for r in replies if r.parsed is not None)
    return {
        "replies": len(replies),
        "valid": valid,
        "validity": round(valid / len(replies), 4),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 2),
        "ms_per_step": round(1000 * seconds / steps, 1),
        "example": (next((r.text for r in replies if r.parsed is not None), None) or "")[:160],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=8, help="personas to write (1-8)")
    args = parser.parse_args()
    model_dir = materialise_embedded_model(Path("models/smollm2"))
    summary: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for load, requests in _loads(min(max(args.roles, 1), 8), Path(tmp) / "plays").items():
            modes = {}
            for constrained in (False, True):
                mode = "constrained" if constrained else "free"
                modes[mode] = _run(model_dir, requests, constrained, f"{tmp}/{load}-{mode}")
                print(load, mode, json.dumps(modes[mode], ensure_ascii=False), flush=True)
            free, fixed = modes["free"], modes["constrained"]
            summary[load] = {
                "requests": len(requests),
                "validity_free": free["validity"],
                "validity_constrained": fixed["validity"],
                # replies/s of valid JSON is what a stage gets; per decode step of the same
                # batch is the constraint's own cost (its tokens/s at equal batch occupancy)
                "tokens_per_s_ratio": round(fixed["tokens_per_s"] / free["tokens_per_s"], 3),
                "step_throughput_ratio": round(free["ms_per_step"] / fixed["ms_per_step"], 3),
                "valid_replies_per_s_ratio": (  # null: free decoding had no valid reply
                    round(
                        (fixed["valid"] / fixed["seconds"]) / (free["valid"] / free["seconds"]), 2
                    )
                    if free["valid"]
                    else None
                ),
                "seconds_constrained": fixed["seconds"],
            }
    print(json.dumps({"benchmark": "structured", **summary}))


if __name__ == "__main__":
    main()
