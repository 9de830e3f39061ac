"""Benchmark: rebuilding the generation stages with a cold cache, a warm cache, and after one
role's description changed (quick profile, in a fresh clone of this checkout).

cold: `dvc repro assemble` with empty LLM caches (rolegpt, context-instruct,
rolegpt-specific, assemble).
warm: the same stages forced to rerun (`dvc repro -f -s ...`): every call is a cache hit.
change: Hamlet's description is edited; profiles rerun through DVC, then rolegpt,
context-instruct and rolegpt-specific run with an observer on the engine that sees every
call, so we count the calls that missed the cache and the calls whose prompt contains the
new description.
Prints one JSON line last: warm_speedup, recomputed_calls, calls_of_changed_role.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import yaml

from tests.clone import make_clone, quick_args, sh

GENERATION = ["rolegpt", "context-instruct", "rolegpt-specific", "assemble"]
NEW_DESCRIPTION = "Hamlet is a restless student prince who distrusts everyone at court."


def _timed(args: list[str], root: Path) -> float:
    start = time.perf_counter()
    sh(args, root, timeout=3600)
    return time.perf_counter() - start


def _change_description(root: Path) -> None:
    path = root / "data" / "personas.yaml"
    personas = yaml.safe_load(path.read_text())
    personas["Hamlet"]["description"] = NEW_DESCRIPTION
    path.write_text(yaml.safe_dump(personas, allow_unicode=True))


def _rerun_with_observer(root: Path) -> tuple[int, int]:
    """Run the generation stages as `dvc repro` would, counting calls."""
    import os

    from dataset_builder.context_instruct import run_context_instruct
    from dataset_builder.rolegpt import run_rolegpt
    from dataset_builder.rolegpt_specific import run_rolegpt_specific
    from rolellm.config import load_params
    from rolellm.engine.engine import build_engine

    recomputed = changed = 0

    def observe(call, from_cache: bool) -> None:
        nonlocal recomputed, changed
        recomputed += not from_cache
        changed += any(NEW_DESCRIPTION in m["content"] for m in call.request.messages)

    here = os.getcwd()
    os.chdir(root)
    try:
        cfg = load_params("params.yaml")
        for stage, run in (
            ("rolegpt", _rolegpt(run_rolegpt, cfg)),
            ("context_instruct", _ci(run_context_instruct, cfg)),
            ("rolegpt_specific", _specific(run_rolegpt_specific, cfg)),
        ):
            engine = build_engine(cfg.engine, stage)
            engine.observers.append(observe)
            run(engine)
            engine.close()
    finally:
        os.chdir(here)
    return recomputed, changed


def _rolegpt(run, cfg):
    gen = Path("data/generated")
    return lambda engine: run(
        "data/instructions/pool.jsonl", "data/profiles", gen / "rolegpt.jsonl", cfg.rolegpt, engine
    )


def _ci(run, cfg):
    out = Path("data/generated/context_instruct.jsonl")
    return lambda engine: run("data/profiles", out, cfg.context_instruct, engine)


def _specific(run, cfg):
    gen = Path("data/generated")
    return lambda engine: run(
        gen / "context_instruct.jsonl",
        "data/profiles",
        gen / "rolegpt_specific.jsonl",
        cfg.rolegpt,
        cfg.assemble,
        engine,
    )


def main() -> None:
    from rolellm.engine.embedded import materialise_embedded_model

    model = materialise_embedded_model(Path("models/smollm2"))
    with tempfile.TemporaryDirectory() as tmp:
        root = make_clone(Path(tmp), model)
        sh(["dvc", "exp", "run", *quick_args(root), "instructions"], root, timeout=3600)
        cold = _timed(["dvc", "repro", "assemble"], root)
        warm = _timed(["dvc", "repro", "-f", "-s", *GENERATION], root)
        _change_description(root)
        sh(["dvc", "repro", "profiles"], root)
        recomputed, changed = _rerun_with_observer(root)
        sh(["dvc", "repro", "assemble"], root)
    print(
        json.dumps(
            {
                "warm_speedup": round(cold / warm, 2),
                "recomputed_calls": recomputed,
                "calls_of_changed_role": changed,
                "cold_seconds": round(cold, 2),
                "warm_seconds": round(warm, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
