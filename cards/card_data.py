"""What the cards show, built as data: shard statistics, the role roster and sources, the
validation summary and the dataset's Hub metadata; the evaluation results and `model-index`.

cards/render.py puts these into the Jinja templates.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cards.config import ReleaseConfig
from dataset_builder.rolebench_io import configs_metadata
from dataset_builder.schema import CONFIGS, SPLITS
from rolellm.records import Role

VIEWS: tuple[str, ...] = ("CUS", "RAW", "SPE")  # the paper's column order


# --- dataset card --------------------------------------------------------------------------


def size_category(rows: int) -> str:
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]
    for bound, label in bounds:
        if rows < bound:
            return label
    return "n>1T" if rows > 10**12 else "10M<n<100M"


def shard_stats(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """rows, uncompressed bytes, file bytes and per-role row counts of every shard."""
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for spec in CONFIGS:
        for split in SPLITS:
            path = folder / spec.shard_path(split)
            if not path.is_file():
                continue
            meta = pq.ParquetFile(path).metadata
            roles = pq.read_table(path, columns=["role"]).column("role").to_pylist()
            stats[(spec.name, split)] = {
                "rows": meta.num_rows,
                "num_bytes": sum(
                    meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)
                ),
                "file_bytes": path.stat().st_size,
                "per_role": Counter(roles),
            }
    return stats


def dataset_metadata(
    cfg: ReleaseConfig,
    folder: Path,
    stats: Mapping[tuple[str, str], Mapping[str, Any]],
    langs: Sequence[str],
) -> dict[str, Any]:
    infos = []
    for spec in CONFIGS:
        splits = [split for split in SPLITS if (spec.name, split) in stats]
        if not splits:
            continue
        split_infos = [
            {
                "name": split,
                "num_bytes": stats[(spec.name, split)]["num_bytes"],
                "num_examples": stats[(spec.name, split)]["rows"],
            }
            for split in splits
        ]
        infos.append(
            {
                "config_name": spec.name,
                "features": spec.features._to_yaml_list(),
                "splits": split_infos,
                "download_size": sum(stats[(spec.name, s)]["file_bytes"] for s in splits),
                "dataset_size": sum(s["num_bytes"] for s in split_infos),
            }
        )
    total = sum(s["rows"] for s in stats.values())
    return {
        "license": cfg.dataset_license,
        "language": sorted(set(langs)) or ["en"],
        "task_categories": list(cfg.task_categories),
        "size_categories": [cfg.size_categories or size_category(total)],
        "pretty_name": cfg.pretty_name,
        "tags": list(cfg.tags),
        "configs": configs_metadata(folder, stats),
        "dataset_info": infos,
    }


def roster_rows(
    roles: Sequence[Role], stats: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per role: language, held out, persona source and rows per split."""
    per_split: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, split), info in stats.items():
        per_split[split].update(info["per_role"])
    known = {r.name for r in roles}
    extra = sorted({name for c in per_split.values() for name in c} - known)
    rows = []
    for role in [*roles, *(Role(name=name, slug="", lang=None) for name in extra)]:
        name = role.name
        rows.append(
            {
                "name": name,
                "lang": role.lang,
                "held_out": role.held_out,
                "source": role.extra.get("source_script"),
                "persona": role.extra.get("persona_source"),
                "counts": {split: per_split[split][name] for split in SPLITS},
                "total": sum(per_split[split][name] for split in SPLITS),
            }
        )
    return rows


def source_rows(roles: Sequence[Role]) -> list[dict[str, Any]]:
    """Source scripts and their licenses (roles.json `source_script` / `source_note`)."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for role in roles:
        extra = role.extra
        key = (str(extra.get("source_script") or ""), str(extra.get("source_note") or ""))
        grouped[key].append(role.name)
    return [
        {"script": script or None, "note": note or None, "roles": names}
        for (script, note), names in sorted(grouped.items())
    ]


def validation_summary(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    shards = report.get("shards") or {}
    return {
        "success": bool(report.get("success")),
        "evaluated": report.get("evaluated"),
        "passed": report.get("passed"),
        "failed": report.get("failed"),
        "shards": [
            {"shard": name, **{k: info.get(k) for k in ("rows", "evaluated", "passed", "success")}}
            for name, info in sorted(shards.items())
            if isinstance(info, Mapping)
        ],
    }


# --- evaluation results ---------------------------------------------------------------------

# metrics/eval.json (training/evaluate.py): {setting: {system: {CUS, RAW, SPE, avg,
# SPE_by_type, judge: {win_rate, ci_low, ci_high, n}}}}; reports/eval_details.json adds
# {"views": {setting: {system: {view: {mean, n, per_role: {role: score}}}}}}.
SETTING_CONFIGS = {
    "instruction_generalization": (
        "eng_instruction_generalization_general",
        "eng_instruction_generalization_role_specific",
    ),
    "role_generalization": (
        "eng_role_generalization_general",
        "eng_role_generalization_role_specific",
    ),
    "zh": ("zh_general", "zh_role_specific"),
}
SYSTEM_TEXT = {
    "rocit": "this adapter on its base model",
    "base": "the base model alone",
    "model": "the evaluated model",
    "rolegpt": "RoleGPT baseline (the rolegpt_baseline rows)",
}
MODEL_SYSTEMS = ("rocit", "model")  # the system that is this release, in order of preference


def view_config(setting: str, view: str) -> str | None:
    pair = SETTING_CONFIGS.get(setting)
    if pair is None:
        return None
    return pair[1] if view == "SPE" else pair[0]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def eval_results(
    metrics: Mapping[str, Any], details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the model card shows of the evaluation stage's outputs.

    Returns {"system": the system this release is, "settings": [{"setting", "rows":
    [{"system", "label", CUS, RAW, SPE, avg, judge}]}], "per_role": {setting: {role:
    {view: score}}}}.
    """
    settings, systems_seen = [], []
    for setting, systems in metrics.items():
        if not isinstance(systems, Mapping):
            continue
        rows = []
        for system, views in systems.items():
            if not isinstance(views, Mapping):
                continue
            judge = views.get("judge") if isinstance(views.get("judge"), Mapping) else {}
            row = {"system": str(system), "label": SYSTEM_TEXT.get(str(system), str(system))}
            row.update({view: _number(views.get(view)) for view in (*VIEWS, "avg")})
            row["judge"] = _number(judge.get("win_rate"))
            row["judge_n"] = judge.get("n")
            rows.append(row)
            systems_seen.append(str(system))
        if rows:
            settings.append({"setting": str(setting), "rows": rows})
    system = next((s for s in MODEL_SYSTEMS if s in systems_seen), None)
    per_role: dict[str, dict[str, dict[str, float]]] = {}
    views_detail = (details or {}).get("views") if isinstance(details, Mapping) else None
    if system and isinstance(views_detail, Mapping):
        for setting, systems in views_detail.items():
            cells = systems.get(system) if isinstance(systems, Mapping) else None
            if not isinstance(cells, Mapping):
                continue
            for view, cell in cells.items():
                roles = cell.get("per_role") if isinstance(cell, Mapping) else None
                for role, score in (roles or {}).items():
                    if (value := _number(score)) is not None:
                        per_role.setdefault(str(setting), {}).setdefault(str(role), {})[view] = (
                            value
                        )
    return {"system": system, "settings": settings, "per_role": per_role}


def model_index(
    cfg: ReleaseConfig, results: Mapping[str, Any], dataset_repo: str
) -> list[dict[str, Any]]:
    """The Hub's `model-index` block: one result per (setting, view) of this model."""
    out = []
    for block in results["settings"]:
        row = next((r for r in block["rows"] if r["system"] == results["system"]), None)
        if row is None:
            continue
        for view in VIEWS:
            if row[view] is None:
                continue
            dataset: dict[str, Any] = {"name": cfg.pretty_name, "type": dataset_repo}
            config = view_config(block["setting"], view)
            if config:
                dataset.update(config=config, split="test")
            out.append(
                {
                    "task": {
                        "type": "text-generation",
                        "name": f"Role-playing, {block['setting']} ({view})",
                    },
                    "dataset": dataset,
                    "metrics": [
                        {
                            "type": "rougeL",
                            "value": round(row[view], 4),
                            "name": f"{view} Rouge-L F1",
                        }
                    ],
                }
            )
    return [{"name": cfg.model_name, "results": out}] if out else []
