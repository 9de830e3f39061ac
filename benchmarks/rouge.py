"""Rouge-L: training.rouge.RougeL against Google's rouge-score, same pairs, same run.

    .venv/bin/python -m benchmarks.rouge [--pairs 50000] [--baseline-pairs 5000] [--seed 0]

Pairs are (prediction, 5 references), half English, half Chinese, recombined deterministically
(seeded) from real answers of the reference RoleBench slice (../shared/reference/rolebench):
each pair draws a role, then its prediction and references from that role's answers.

English: rouge-score's default tokenizer, no stemming, on both sides. Chinese: both sides use
the same ``JiebaTokenizer`` object (``RougeScorer(["rougeL"], tokenizer=...)``).

rouge-score takes milliseconds per pair, so it is timed on a seeded random subset of
``--baseline-pairs`` pairs and its time is extrapolated per pair, per language, to all pairs
(``baseline_extrapolated`` in the JSON). ``max_abs_diff`` compares the two on that whole
subset. Ours is timed on all pairs, from a cold scorer (empty memo, jieba already loaded), and
also on the subset alone (``speedup_same_subset``: little text reuse, so jieba dominates).
Times are CPU seconds of this process (the machine's cores are shared, so wall-clock time
swings with other work); wall-clock speedup is reported beside. The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "rolebench"
SOURCES = {
    "en": [
        "rolebench-eng/instruction-generalization/role_specific/test.jsonl",
        "rolebench-eng/instruction-generalization/role_specific/rolegpt_baseline.jsonl",
    ],
    "zh": [
        f"rolebench-zh/{kind}/{split}.jsonl"
        for kind in ("general", "role_specific")
        for split in ("train", "test", "rolegpt_baseline")
    ],
}
N_REFS = 5

Pair = tuple[str, str, list[str]]  # (lang, prediction, references)


def _answers(root: Path, lang: str) -> dict[str, list[str]]:
    by_role: dict[str, list[str]] = {}
    for rel in SOURCES[lang]:
        with (root / rel).open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    by_role.setdefault(row["role"], []).extend(row["generated"])
    return by_role


def build_pairs(root: Path, n: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pools = {lang: _answers(root, lang) for lang in ("en", "zh")}
    roles = {lang: sorted(pool) for lang, pool in pools.items()}
    pairs: list[Pair] = []
    for i in range(n):
        lang = "en" if i % 2 == 0 else "zh"
        answers = pools[lang][rng.choice(roles[lang])]
        pairs.append((lang, rng.choice(answers), [rng.choice(answers) for _ in range(N_REFS)]))
    return pairs


class _Clock:
    """Wall-clock and CPU seconds of this process (the CPU is shared with other work)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> _Clock:
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += time.process_time() - self._start[1]


def _ours(pairs: list[Pair]) -> tuple[list[float], _Clock]:
    """Score with fresh (cold-memo) scorers; return scores in pair order and the time."""
    from training.rouge import RougeL

    with _Clock() as clock:
        scorers = {"en": RougeL("en"), "zh": RougeL("zh")}
        scores = [scorers[lang].score(pred, refs) for lang, pred, refs in pairs]
    return scores, clock


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--baseline-pairs", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not REFERENCE.is_dir():
        sys.exit(f"reference RoleBench slice not found at {REFERENCE}")

    import jieba
    from rouge_score import rouge_scorer

    from training.rouge import JiebaTokenizer

    jieba.setLogLevel(60)
    jieba.initialize()  # load the dictionary once, outside both timings

    pairs = build_pairs(REFERENCE, args.pairs, args.seed)
    subset = sorted(random.Random(args.seed + 1).sample(range(len(pairs)), args.baseline_pairs))
    sub_pairs = [pairs[i] for i in subset]
    n_lang = {lang: sum(p[0] == lang for p in pairs) for lang in ("en", "zh")}
    print(f"{len(pairs)} pairs x {N_REFS} references; baseline on {len(subset)}", flush=True)

    ours_all, ours = _ours(pairs)
    print(f"ours, all pairs: {ours.cpu:.2f} s CPU, {ours.wall:.2f} s wall", flush=True)
    ours_sub_scores, ours_sub = _ours(sub_pairs)
    print(f"ours, subset alone (cold): {ours_sub.cpu:.2f} s CPU", flush=True)

    zh_tokenizer = JiebaTokenizer()
    baselines = {
        "en": rouge_scorer.RougeScorer(["rougeL"]),
        "zh": rouge_scorer.RougeScorer(["rougeL"], tokenizer=zh_tokenizer),
    }
    base_scores: list[float] = []
    base = {"en": _Clock(), "zh": _Clock()}
    base_n = {"en": 0, "zh": 0}
    for lang, pred, refs in sub_pairs:
        with base[lang]:
            value = baselines[lang].score_multi(refs, pred)["rougeL"].fmeasure
        base_n[lang] += 1
        base_scores.append(value)
    base_sub = {kind: sum(getattr(c, kind) for c in base.values()) for kind in ("cpu", "wall")}
    print(f"rouge-score, subset: {base_sub['cpu']:.2f} s CPU", flush=True)
    # per-pair time of each language, times that language's pair count in the full run
    base_est = {
        kind: sum(getattr(base[lang], kind) / base_n[lang] * n_lang[lang] for lang in base)
        for kind in ("cpu", "wall")
    }

    max_abs_diff = max(abs(b - ours_all[i]) for b, i in zip(base_scores, subset, strict=True))
    max_abs_diff = max(
        max_abs_diff, max(abs(a - b) for a, b in zip(ours_sub_scores, base_scores, strict=True))
    )
    result = {
        "speedup_vs_rouge_score": round(base_est["cpu"] / ours.cpu, 2),
        "max_abs_diff": max_abs_diff,
        "pairs": len(pairs),
        "references_per_pair": N_REFS,
        "pairs_by_lang": n_lang,
        "clock": "process CPU seconds (wall-clock figures beside them)",
        "speedup_wall": round(base_est["wall"] / ours.wall, 2),
        "ours_s": round(ours.cpu, 3),
        "rouge_score_s_extrapolated": round(base_est["cpu"], 3),
        "baseline_extrapolated": True,
        "baseline_pairs_timed": len(subset),
        "baseline_subset_s": round(base_sub["cpu"], 3),
        "ours_subset_cold_s": round(ours_sub.cpu, 3),
        "speedup_same_subset": round(base_sub["cpu"] / ours_sub.cpu, 2),
        "baseline_ms_per_pair": {
            lang: round(1000 * base[lang].cpu / base_n[lang], 3) for lang in base
        },
        "mean_rougeL": {
            lang: round(
                sum(s for s, p in zip(ours_all, pairs, strict=True) if p[0] == lang) / n_lang[lang],
                6,
            )
            for lang in n_lang
        },
        "seed": args.seed,
        "tokenizers": {"en": "rouge_score default, no stemmer", "zh": "jieba.lcut, no whitespace"},
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
