"""Dataset and model cards: Hub YAML metadata (built as data in cards/card_data.py, dumped
with PyYAML) and a Markdown body rendered from the Jinja templates beside this module.

Every input that is missing renders as "not recorded"; nothing here reads the clock, so the
same inputs always give the same bytes (a second push of the same state finds no change).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from cards.card_data import (
    VIEWS,
    dataset_metadata,
    model_index,
    roster_rows,
    shard_stats,
    source_rows,
    validation_summary,
)
from cards.config import ReleaseConfig
from dataset_builder.schema import CONFIGS, SPLITS
from rolellm.records import Role

TEMPLATES = Path(__file__).resolve().parent
NOT_RECORDED = "not recorded"
VIEW_TEXT = {
    "RAW": "general instructions against the original reference answer (instruction following)",
    "CUS": "general instructions against the RoleGPT in-character answers (speaking style)",
    "SPE": "role-specific questions against the Context-Instruct answers (role knowledge)",
}
CITATION = """@article{wang2023rolellm,
  title   = {RoleLLM: Benchmarking, Eliciting, and Enhancing Role-Playing Abilities of Large Language Models},
  author  = {Zekun Moore Wang and Zhongyuan Peng and Haoran Que and Jiaheng Liu and Wangchunshu Zhou and Yuhan Wu and Hongcheng Guo and Ruitong Gan and Zehao Ni and Man Zhang and Zhaoxiang Zhang and Wanli Ouyang and Ke Xu and Wenhu Chen and Jie Fu and Junran Peng},
  year    = {2023},
  journal = {arXiv preprint arXiv:2310.00746}
}"""  # noqa: E501  (the official RoleLLM-public citation, verbatim)


# --- Jinja ---------------------------------------------------------------------------------


def md_cell(value: Any) -> str:
    """A value that is safe inside a Markdown table cell."""
    if value is None or value == "":
        return NOT_RECORDED
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split()).replace("|", "\\|")


def fmt_number(value: Any, digits: int = 4) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return NOT_RECORDED
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return md_cell(value)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = md_cell
    env.filters["num"] = fmt_number
    env.filters["human_size"] = human_size
    env.filters["pystr"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def front_matter(metadata: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{text}---\n"


def human_size(n: int | None) -> str:
    if n is None:
        return NOT_RECORDED
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# --- dataset card --------------------------------------------------------------------------


def render_dataset_card(
    cfg: ReleaseConfig,
    folder: Path,
    roles: Sequence[Role],
    validation: Mapping[str, Any] | None,
    provenance: Sequence[Mapping[str, Any]],
    repo_id: str | None = None,
) -> str:
    """README.md of the dataset release for the shards present in ``folder``."""
    stats = shard_stats(folder)
    langs = [r.lang for r in roles]
    metadata = dataset_metadata(cfg, folder, stats, langs)
    config_rows = []
    for spec in CONFIGS:
        counts = {
            split: stats[(spec.name, split)]["rows"]
            for split in SPLITS
            if (spec.name, split) in stats
        }
        if counts:
            config_rows.append({"spec": spec, "counts": counts})
    body = render(
        "dataset_card.md.j2",
        cfg=cfg,
        repo_id=repo_id or cfg.dataset_repo,
        configs=config_rows,
        splits=SPLITS,
        total=sum(s["rows"] for s in stats.values()),
        roster=roster_rows(roles, stats),
        sources=source_rows(roles),
        provenance=provenance,
        validation=validation_summary(validation),
        first_config=config_rows[0]["spec"].name if config_rows else "<config>",
        citation=CITATION,
        not_recorded=NOT_RECORDED,
    )
    return front_matter(metadata) + "\n" + body


# --- model card -----------------------------------------------------------------------------


def render_model_card(
    cfg: ReleaseConfig,
    *,
    summary: Mapping[str, Any],
    results: Mapping[str, Any],
    roles: Sequence[Role],
    plots: Sequence[str],
    lineage: Mapping[str, Any],
    example: Mapping[str, str],
    eval_report: str | None = None,
    base_model: str,
    dataset_repo: str | None = None,
    model_repo: str | None = None,
) -> str:
    """README.md of the model release (a PEFT LoRA adapter)."""
    dataset_repo = dataset_repo or cfg.dataset_repo
    langs = sorted({r.lang for r in roles}) or ["en"]
    metadata: dict[str, Any] = {
        "base_model": base_model,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "license": cfg.model_license,
        "language": langs,
        "tags": ["lora", "peft", "trl", "sft", *cfg.tags],
        "datasets": [dataset_repo],
    }
    index = model_index(cfg, results, dataset_repo)
    if index:
        metadata["model-index"] = index
    hyper = summary.get("hyperparameters") or {}
    training = summary.get("training") or {}
    data = summary.get("data") or {}
    held_out = {r.name for r in roles if r.held_out}
    per_role = [
        {
            "setting": setting,
            "rows": [
                {"name": name, "held_out": name in held_out, "scores": scores}
                for name, scores in sorted(table.items())
            ],
        }
        for setting, table in results["per_role"].items()
    ]
    body = render(
        "model_card.md.j2",
        cfg=cfg,
        repo_id=model_repo or cfg.model_repo,
        dataset_repo=dataset_repo,
        base_model=base_model,
        base_identity=summary.get("base_model") or {},
        results=results,
        views=VIEWS,
        view_text=VIEW_TEXT,
        per_role=per_role,
        plots=plots,
        hyper=_flat(hyper, skip=("system_prompt_template",)),
        system_prompt_template=hyper.get("system_prompt_template"),
        training=training,
        data=data,
        versions=summary.get("versions") or {},
        lineage=lineage,
        example=example,
        eval_report=eval_report,
        citation=CITATION,
        not_recorded=NOT_RECORDED,
    )
    return front_matter(metadata) + "\n" + body


def _flat(obj: Mapping[str, Any], prefix: str = "", skip: Sequence[str] = ()) -> list[tuple]:
    rows: list[tuple[str, Any]] = []
    for key, value in obj.items():
        if key in skip:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flat(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows
