"""Benchmark: which embedded model writes which language. SmolLM2-135M-Instruct against
Gemma 3 270M (pretrained, transcript template) on English and Chinese, same requests, same
seeds, each model in its own engine with a cold cache.

Loads, built by the stages' own request builders from the embedded scripts and the team's
personas (data/personas.yaml):
  rolegpt   RoleGPT dialogue-mode requests: three roles per language x `--questions` seed
            instructions x 2 samples (free text, 48 new tokens).
  context   Context-Instruct script-based requests: one scene segment per role, decoded
            under the reply schema (llguidance), first attempt only.
Per (model, language): replies, generated tokens per second (the model's own tokenizer),
characters per second, broken-character rate (U+FFFD or a control character), target-script
rate (a reply whose letters are mostly of the role's script: CJK for zh, Latin for en),
valid-JSON rate and the share of Context-Instruct items the stage's filters keep. Prints one
JSON line last; ratios are Gemma / SmolLM2 on the same load.

    .venv/bin/python -m benchmarks.chinese [--questions 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import unicodedata
from pathlib import Path

from dataset_builder.context_instruct import candidates, item_filters, script_based_requests
from dataset_builder.context_instruct_config import ContextInstructConfig
from dataset_builder.describe import DescribeConfig
from dataset_builder.generation.runner import load_role_profiles, profile_texts
from dataset_builder.profiles import run_profiles_stage
from dataset_builder.profiles_config import ProfilesConfig, RoleConfig
from dataset_builder.raw_scripts import materialise_plays
from dataset_builder.rolegpt import exchange_indexes, rolegpt_request
from dataset_builder.rolegpt_config import RoleGPTConfig
from rolellm.atomic import read_jsonl
from rolellm.engine.config import EngineConfig, LocalBackendConfig
from rolellm.engine.embedded import GEMMA3, SMOLLM2, materialise_embedded_model
from rolellm.engine.engine import build_engine
from rolellm.records import PoolRow
from rolellm.rules import RulesConfig
from rolellm.sections import Sampling

ROLES = {
    "en": [("Hamlet", "hamlet"), ("Macbeth", "macbeth"), ("Juliet", "romeo-and-juliet")],
    "zh": [("老周", "灯笼铺"), ("小梅", "灯笼铺"), ("陈掌柜", "灯笼铺")],
}
MODELS = {"smollm2": (SMOLLM2, "models/smollm2"), "gemma3": (GEMMA3, "models/gemma3-270m")}


def _profiles(work: Path) -> Path:
    roles = [RoleConfig(name=name, script=play) for lang in ROLES.values() for name, play in lang]
    plays = sorted({play for lang in ROLES.values() for _, play in lang})
    materialise_plays(plays, work / "plays")
    cfg = ProfilesConfig(
        plays=plays,
        plays_dir=str(work / "plays"),
        scripts_dir=None,
        roles=roles,
        out_dir=str(work / "profiles"),
        describe=DescribeConfig(overrides="data/personas.yaml"),  # every role has one: no call
    )
    run_profiles_stage(cfg, EngineConfig(cache_dir=str(work / "cache")), 0, work / "m.json")
    return work / "profiles"


def _pool(lang: str, count: int) -> list[PoolRow]:
    rows = read_jsonl(Path("dataset_builder/seed") / f"instructions_{lang}.jsonl")[:count]
    return [
        PoolRow(
            id=r["id"], lang=lang, instruction=r["instruction"], answer=r["answer"], split="train"
        )
        for r in rows
    ]


def _loads(profiles_dir: Path, questions: int) -> dict:
    rolegpt_cfg = RoleGPTConfig(n=2, sampling=Sampling(temperature=0.7, max_new_tokens=48))
    context_cfg = ContextInstructConfig(max_segments=1, worked_example=True)
    loads = {}
    for lang, chosen in ROLES.items():
        roles, profiles = load_role_profiles(profiles_dir, [name for name, _ in chosen])
        indexes = exchange_indexes(roles, profiles, rolegpt_cfg)
        pool = _pool(lang, questions)
        rolegpt = [
            rolegpt_request(role, row, indexes[role.slug], rolegpt_cfg)[0]
            for role in roles
            for row in pool
        ]
        context = [
            pair
            for role in roles
            for pair in script_based_requests(role, profiles[role.slug], context_cfg)
        ]
        loads[lang] = (rolegpt, context, profile_texts(roles, profiles), context_cfg)
    return loads


def _script_share(text: str, lang: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    cjk = sum(1 for ch in letters if unicodedata.east_asian_width(ch) in "WF")
    return (cjk if lang == "zh" else len(letters) - cjk) / len(letters)


def _broken(text: str) -> bool:
    return "\ufffd" in text or any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in text
    )


def _measure(model_dir: Path, lang: str, load, cache: str) -> dict:
    rolegpt, context, profiles, context_cfg = load
    local = LocalBackendConfig(model=str(model_dir))
    engine = build_engine(EngineConfig(local=local, json_retries=0, cache_dir=cache), "bench")
    tokenizer = engine.backend.tokenizer  # load outside the timed part
    start = time.perf_counter()
    replies = [r for result in engine.generate(rolegpt) for r in result.replies]
    seconds = time.perf_counter() - start
    texts = [r.text or "" for r in replies]
    tokens = sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)
    structured = engine.generate([request for request, _ in context])
    engine.close()
    filters = item_filters(context_cfg, profiles, RulesConfig())
    items = [
        row
        for (_, source), result in zip(context, structured, strict=True)
        for sample, reply in enumerate(result.replies)
        for row in candidates(source, sample, reply, filters)
    ]
    kept = filters.run(items)
    json_replies = [r for result in structured for r in result.replies]
    return {
        "replies": len(texts),
        "tokens_per_s": round(tokens / seconds, 1),
        "chars_per_s": round(sum(len(t) for t in texts) / seconds, 1),
        "broken_rate": round(sum(map(_broken, texts)) / len(texts), 3),
        "target_script_rate": round(
            sum(_script_share(t, lang) >= 0.5 for t in texts) / len(texts), 3
        ),
        "json_valid_rate": round(
            sum(r.parsed is not None for r in json_replies) / max(len(json_replies), 1), 3
        ),
        "items": len(items),
        "items_kept": len(kept),
        "example": next((t for t in texts if t.strip()), "")[:80],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4, help="instructions per role")
    args = parser.parse_args()
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        loads = _loads(_profiles(Path(tmp)), args.questions)
        for name, (spec, folder) in MODELS.items():
            model_dir = materialise_embedded_model(Path(folder), spec)
            for lang, load in loads.items():
                result = _measure(model_dir, lang, load, f"{tmp}/{name}-{lang}")
                results.setdefault(lang, {})[name] = result
                print(name, lang, json.dumps(result, ensure_ascii=False), flush=True)
    summary = {}
    for lang, by_model in results.items():
        small, gemma = by_model["smollm2"], by_model["gemma3"]
        summary[lang] = {
            **{
                f"{key}_{m}": by_model[m][key]
                for m in MODELS
                for key in ("broken_rate", "target_script_rate", "json_valid_rate", "items_kept")
            },
            "chars_per_s_ratio": round(gemma["chars_per_s"] / small["chars_per_s"], 2),
            "tokens_per_s_ratio": round(gemma["tokens_per_s"] / small["tokens_per_s"], 2),
        }
    print(json.dumps({"benchmark": "chinese", **summary}, ensure_ascii=False))


if __name__ == "__main__":
    main()
