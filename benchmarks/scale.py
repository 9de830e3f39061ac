"""Scale: a RoleBench-sized synthetic dataset through the folder writer and the quality gate.

    .venv/bin/python -m benchmarks.scale [--seed 0] [--keep DIR]

168,093 rows as in the paper (general 147,609; role-specific 20,484 = English 18,949 +
Chinese 1,535), 100 roles (95 English, 5 Chinese; 10 English roles held out of the role
generalization train split). Realistic lengths: questions about 26 words (Chinese about 36
characters), five references of about 30 words per general sample, one answer per
role-specific sample. General instructions are shared by every role of a split, as in the
release; test instructions never occur in train.

Stages (each a function, timed separately): make_dataset -> write_folder -> validate ->
stage_release (the Hub-ready dataset folder with its card, verified with load_dataset).
`seconds` covers write_folder + validate + stage_release; `peak_rss_mib` is the process's
peak resident set (resource.getrusage). Goal on 2 CPU cores: under 120 s and 4096 MiB.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dataset_builder.rolebench_io import ShardKey, write_rolebench
from dataset_builder.schema import CONFIGS_BY_NAME
from dataset_builder.validation import ValidateConfig, validate_folder

ROWS = 168_093
# (config, split) -> rows; sums to ROWS.
LAYOUT: dict[ShardKey, int] = {
    ("eng_instruction_generalization_general", "train"): 100_000,
    ("eng_instruction_generalization_general", "test"): 27_000,
    ("eng_role_generalization_general", "train"): 4_600,
    ("eng_role_generalization_general", "test"): 1_400,
    ("zh_general", "train"): 11_730,
    ("zh_general", "test"): 2_879,
    ("eng_instruction_generalization_role_specific", "train"): 14_199,
    ("eng_instruction_generalization_role_specific", "test"): 4_750,
    ("zh_role_specific", "train"): 1_296,
    ("zh_role_specific", "test"): 239,
}
EN_ROLES, ZH_ROLES, HELD_OUT = 95, 5, 10
CJK_POOL = "".join(chr(0x4E00 + k) for k in range(3000))  # common-ideograph block start
EN_SYLLABLES: tuple[str, ...] = (
    *("ka", "ri", "to", "mo", "na", "se", "lu", "de", "an", "ver", "sta", "ling", "cor"),
    *("pa", "the", "in", "er", "on", "ar", "or", "en", "al", "ble", "ment", "tion", "ous"),
)


def _words(rng: np.random.Generator, vocab: np.ndarray, mean: int, n: int) -> list[str]:
    lengths = np.clip(rng.poisson(mean, n), 3, mean * 3)
    picks = rng.integers(0, len(vocab), lengths.sum())
    cuts = np.cumsum(lengths)[:-1]
    return [" ".join(chunk).capitalize() + "." for chunk in np.split(vocab[picks], cuts)]


def _chars(rng: np.random.Generator, mean: int, n: int) -> list[str]:
    pool = np.array(list(CJK_POOL))
    lengths = np.clip(rng.poisson(mean, n), 4, mean * 3)
    picks = rng.integers(0, len(pool), lengths.sum())
    cuts = np.cumsum(lengths)[:-1]
    return ["".join(chunk) + "。" for chunk in np.split(pool[picks], cuts)]


def _vocab(rng: np.random.Generator, size: int = 8000) -> np.ndarray:
    syllables = np.array(EN_SYLLABLES)
    parts = rng.integers(0, len(syllables), (size, 3))
    lengths = rng.integers(1, 4, size)
    return np.array(["".join(syllables[p[:k]]) for p, k in zip(parts, lengths, strict=True)])


def _texts(rng: np.random.Generator, lang: str, vocab: np.ndarray, mean: int, n: int) -> list[str]:
    return _chars(rng, int(mean * 1.4), n) if lang == "zh" else _words(rng, vocab, mean, n)


def roster() -> list[dict]:
    en = [
        {"name": f"Role {i:02d}", "lang": "en", "held_out": i < HELD_OUT} for i in range(EN_ROLES)
    ]
    zh = [{"name": f"角色{i}", "lang": "zh", "held_out": False} for i in range(ZH_ROLES)]
    return en + zh


def _roles_for(config: str, split: str, roles: list[dict]) -> list[str]:
    spec = CONFIGS_BY_NAME[config]
    names = [r["name"] for r in roles if r["lang"] == spec.lang]
    if spec.setting == "role_generalization":
        held = {r["name"] for r in roles if r["held_out"]}
        names = [n for n in names if (n in held) == (split == "test")]
    return names


def _shard(rng, key: ShardKey, n: int, roles: list[str], vocab: np.ndarray) -> pd.DataFrame:
    """General: each instruction answered by every role (5 fresh references, one original
    reference per instruction). Role-specific: one question and answer per row."""
    spec = CONFIGS_BY_NAME[key[0]]
    general = spec.kind == "general"
    n_questions = -(-n // len(roles)) if general else n
    index = np.arange(n)
    question_of = index // len(roles) if general else index
    frame = pd.DataFrame({"role": np.array(roles)[index % len(roles)]})
    frame["question"] = np.array(_texts(rng, spec.lang, vocab, 26, n_questions))[question_of]
    per_row = 5 if general else 1
    answers = _texts(rng, spec.lang, vocab, 30, n * per_row)
    frame["generated"] = [answers[i : i + per_row] for i in range(0, n * per_row, per_row)]
    if general:
        frame["reference"] = np.array(_texts(rng, spec.lang, vocab, 30, n_questions))[question_of]
        frame["kind"] = "general"
    else:
        frame["type"] = np.where(rng.random(n) < 0.35, "script_based", "script_agnostic")
        frame["confidence"] = rng.uniform(0.6, 1.0, n)
    return frame


def make_dataset(seed: int = 0) -> tuple[dict[ShardKey, pd.DataFrame], list[dict]]:
    """Synthetic shards per LAYOUT and their roster (every answer is a fresh text)."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng)
    roles = roster()
    shards = {key: _shard(rng, key, n, _roles_for(*key, roles), vocab) for key, n in LAYOUT.items()}
    return shards, roles


def write_folder(shards: dict[ShardKey, pd.DataFrame], roles: list[dict], out: Path) -> Path:
    write_rolebench(out, shards, roles)
    return out


def validate(folder: Path, reports: Path) -> bool:
    report = validate_folder(
        folder, ValidateConfig(), reports / "validation.json", reports / "data_docs"
    )
    if not report.success:
        print("\n".join(report.lines()), file=sys.stderr)
    return report.success


def stage_release(folder: Path, reports: Path, out: Path) -> int:
    """Build release/dataset (shards + rendered card) and load every config/split back.

    Returns the number of shards verified (verify_dataset raises on any mismatch)."""
    from cards.config import ReleaseConfig, ReleasePaths
    from cards.release_dataset import build_dataset, verify_dataset

    paths = ReleasePaths(rolebench=folder, validation=reports / "validation.json")
    validation = json.loads(paths.validation.read_text())
    build_dataset(ReleaseConfig(), paths, out, provenance=[], validation=validation)
    return len(verify_dataset(out))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep outputs in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        started = time.perf_counter()
        shards, roles = make_dataset(args.seed)
        made = time.perf_counter()
        folder = write_folder(shards, roles, root / "rolebench")
        del shards
        written = time.perf_counter()
        ok = validate(folder, root / "reports")
        validated = time.perf_counter()
        verified = stage_release(folder, root / "reports", root / "release" / "dataset")
        done = time.perf_counter()
    rows = sum(LAYOUT.values())
    stages = {
        "make": made - started,
        "write": written - made,
        "validate": validated - written,
        "release": done - validated,
    }
    summary = {"stages_s": {k: round(v, 2) for k, v in stages.items()}, "valid": ok}
    print(json.dumps({**summary, "shards_verified": verified}))
    result = {
        "rows": rows,
        "seconds": round(done - made, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    print(json.dumps(result))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
