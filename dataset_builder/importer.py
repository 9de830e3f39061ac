"""Import the original RoleBench release into our layout and schema.

Release layout (any subset of files may be present):

    rolebench-eng/{instruction-generalization,role-generalization}/{general,role_specific}/
        {train,test,rolegpt_baseline}.jsonl
    rolebench-zh/{general,role_specific}/{train,test,rolegpt_baseline}.jsonl

Release rows: {role, question, generated: [str]} plus `type` in role-specific train/test
files (a list in test files, a string in train files). Fixes applied on import:

- `type` list -> string (the first value; rows whose list mixes kinds are counted);
- questions stripped of leading/trailing whitespace (answers are kept as released);
- general rows get `reference` "" and `kind` "unknown"; role-specific rows `confidence` null;
- rolegpt_baseline rows are all kept; they are matched to test (then train) rows by role +
  stripped question to take `type`; unmatched baseline rows are counted (type stays null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_builder.rolebench_io import ShardKey, write_rolebench
from dataset_builder.schema import CONFIGS, CONFIGS_BY_NAME, SPLITS
from rolellm.atomic import read_jsonl
from rolellm.errors import InputError
from rolellm.records import Role

RELEASE_DIRS: dict[str, str] = {
    "eng_instruction_generalization_general": "rolebench-eng/instruction-generalization/general",
    "eng_instruction_generalization_role_specific": (
        "rolebench-eng/instruction-generalization/role_specific"
    ),
    "eng_role_generalization_general": "rolebench-eng/role-generalization/general",
    "eng_role_generalization_role_specific": "rolebench-eng/role-generalization/role_specific",
    "zh_general": "rolebench-zh/general",
    "zh_role_specific": "rolebench-zh/role_specific",
}
ROLE_GENERALIZATION = ("eng_role_generalization_general", "eng_role_generalization_role_specific")

RawShards = dict[ShardKey, list[dict[str, Any]]]


def release_file(config: str, split: str) -> str:
    """Path of one release file, relative to the release root."""
    return f"{RELEASE_DIRS[config]}/{split}.jsonl"


def is_release(folder: str | Path) -> bool:
    """True for a folder in the original release layout (rolebench-eng/ or rolebench-zh/)."""
    root = Path(folder)
    return (root / "rolebench-eng").is_dir() or (root / "rolebench-zh").is_dir()


def read_release(folder: str | Path) -> RawShards:
    """Rows of every release file present, exactly as released, keyed by (config, split)."""
    root = Path(folder)
    shards: RawShards = {}
    for spec in CONFIGS:
        for split in SPLITS:
            path = root / release_file(spec.name, split)
            if path.is_file():
                shards[(spec.name, split)] = _read_release_file(path)
    if not shards:
        raise InputError(
            f"{root}: no RoleBench release files found (rolebench-eng/, rolebench-zh/)"
        )
    return shards


def _read_release_file(path: Path) -> list[dict[str, Any]]:
    try:
        return read_jsonl(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not JSON lines ({err})") from None


@dataclass
class ImportReport:
    """What an import did: rows per (config, split) and every repair it made."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stripped_questions: int = 0
    type_lists: int = 0
    mixed_type_lists: int = 0
    baseline_unmatched: dict[str, int] = field(default_factory=dict)
    held_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for splits in self.rows.values() for n in splits.values())

    def lines(self) -> list[str]:
        out = [f"imported {self.total:,} rows"]
        for config, splits in self.rows.items():
            parts = ", ".join(f"{split} {n:,}" for split, n in splits.items())
            out.append(f"  {config}: {parts}")
        out.append(f"  questions stripped of whitespace: {self.stripped_questions:,}")
        out.append(f"  type lists turned into strings: {self.type_lists:,}")
        if self.mixed_type_lists:
            out.append(f"  type lists mixing kinds (first kept): {self.mixed_type_lists:,}")
        for config, n in self.baseline_unmatched.items():
            out.append(f"  {config}: {n:,} rolegpt_baseline rows match no test/train question")
        out.append(f"  held-out roles: {', '.join(self.held_out) or 'none'}")
        out.append(f"  release files absent: {len(self.missing)}")
        out += [f"  note: {note}" for note in self.notes]
        return out


def _type_value(value: Any, report: ImportReport) -> str | None:
    if not isinstance(value, list):
        return value
    report.type_lists += 1
    if len(set(value)) > 1:
        report.mixed_type_lists += 1
    return value[0] if value else None


def _question(row: Mapping[str, Any], report: ImportReport) -> str:
    raw = row["question"]
    question = raw.strip()
    report.stripped_questions += question != raw
    return question


def _convert(config: str, rows: Iterable[dict], types: Mapping, report: ImportReport) -> list[dict]:
    general = CONFIGS_BY_NAME[config].kind == "general"
    out = []
    for row in rows:
        question = _question(row, report)
        new = {"role": row["role"], "question": question, "generated": list(row["generated"])}
        if general:
            new |= {"reference": "", "kind": "unknown"}
        else:
            if "type" in row:
                kind = _type_value(row["type"], report)
            else:
                kind = types.get((row["role"], question))
            new |= {"type": kind, "confidence": None}
        out.append(new)
    return out


def _baseline_unmatched(baseline: list[dict], others: list[list[dict]]) -> int:
    seen = {(row["role"], row["question"]) for rows in others for row in rows}
    return sum((row["role"], row["question"]) not in seen for row in baseline)


def convert_release(raw: RawShards, report: ImportReport) -> dict[ShardKey, list[dict]]:
    """Release rows -> rows of our schema, per (config, split); fills `report`."""
    converted: dict[ShardKey, list[dict]] = {}
    for spec in CONFIGS:
        for split in ("train", "test"):
            if (spec.name, split) in raw:
                converted[(spec.name, split)] = _convert(
                    spec.name, raw[(spec.name, split)], {}, report
                )
        key = (spec.name, "rolegpt_baseline")
        if key not in raw:
            continue
        others = [
            converted[(spec.name, s)] for s in ("test", "train") if (spec.name, s) in converted
        ]
        types = {
            (r["role"], r["question"]): r.get("type") for rows in reversed(others) for r in rows
        }
        converted[key] = _convert(spec.name, raw[key], types, report)
        if others:
            report.baseline_unmatched[spec.name] = _baseline_unmatched(converted[key], others)
        else:
            report.notes.append(f"{spec.name}: rolegpt_baseline has no test/train file to match")
    return converted


def roster_from_shards(
    shards: Mapping[ShardKey, Iterable[Mapping]], report: ImportReport
) -> list[Role]:
    """Roles seen, in order of appearance; lang from the config, held_out from role-gen test."""
    seen: dict[str, str] = {}
    for (config, _split), rows in shards.items():
        for row in rows:
            seen.setdefault(row["role"], CONFIGS_BY_NAME[config].lang)
    held_out = _held_out(shards, report)
    report.held_out = sorted(held_out)
    return [
        Role.from_entry({"name": name, "lang": lang, "held_out": name in held_out})
        for name, lang in seen.items()
    ]


def _roles(shards: Mapping[ShardKey, Iterable[Mapping]], split: str) -> set[str]:
    return {
        row["role"]
        for (config, s), rows in shards.items()
        if config in ROLE_GENERALIZATION and s == split
        for row in rows
    }


def _held_out(shards: Mapping[ShardKey, Iterable[Mapping]], report: ImportReport) -> set[str]:
    test_roles, train_roles = _roles(shards, "test"), _roles(shards, "train")
    if test_roles and not train_roles:
        report.notes.append("role-generalization train files absent: no role marked held out")
        return set()
    return test_roles - train_roles


def import_release(release_dir: str | Path, out_dir: str | Path) -> ImportReport:
    """Convert the release at `release_dir` into a RoleBench folder at `out_dir` (atomic)."""
    report = ImportReport()
    raw = read_release(release_dir)
    report.missing = [
        release_file(spec.name, split)
        for spec in CONFIGS
        for split in SPLITS
        if (spec.name, split) not in raw
    ]
    shards = convert_release(raw, report)
    roles = roster_from_shards(shards, report)
    counts = write_rolebench(out_dir, shards, roles, card_body=_card_body(release_dir))
    for (config, split), n in counts.items():
        report.rows.setdefault(config, {})[split] = n
    return report


def _card_body(release_dir: str | Path) -> str:
    return (
        "# RoleBench (imported)\n\n"
        "The original RoleBench release (Wang et al., arXiv 2310.00746; Apache-2.0), converted "
        "to one schema per config so that `load_dataset` works: `type` is a string, questions "
        'are stripped, general rows carry `reference` "" and `kind` "unknown", role-specific '
        f"rows `confidence` null. Source folder: `{Path(release_dir).name}`."
    )
