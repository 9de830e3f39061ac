"""Stage `evaluate`: RoleLLM's Rouge-L views (RAW / CUS / SPE) and an optional LLM judge.

Systems compared on the test split of every RoleBench config present (or those named):

- ``rocit``: the base model plus the RoCIT adapter (engine ``local`` with ``adapter``);
- ``base``: the same base model without the adapter (``compare_base``);
- ``model``: without an adapter, the one model named (a folder, a Hub id, or a model
  served by an OpenAI-compatible endpoint);
- ``rolegpt``: the release's ``rolegpt_baseline`` rows, matched to test rows by role and
  stripped question.

Generation goes through the engine (cached under ``cache_stage``, batched): greedy, with the
role-conditioned system prompt of training (``training.prompts``; the template the adapter
was trained with, read from its ``training_summary.json``, unless one is set here).

The jobs live beside this orchestration: test rows and baseline answers in
``training.eval_data``, systems and generation in ``training.eval_generate``, scores in
``training.eval_views``, the judge in ``training.judge``, files for people in
``training.eval_report``.

Outputs: metrics JSON (DVC metrics: ``{setting: {system: {CUS, RAW, SPE, avg, SPE_by_type,
judge?: {win_rate, ci_low, ci_high, n}}, rocit_minus_base: {CUS, SPE}}}``, RAW absent where
no row has an original answer), the per-role CSV, plots, the Markdown report (see
``training.eval_report``), a details JSON, and predictions
``<reports>/predictions/<system>/<config>.jsonl`` in the release's row format ({role,
question, generated: [answer]}, plus ``type`` for role-specific rows) so that ``rolellm
score`` can rescore them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rolellm.atomic import atomic_path, write_json
from rolellm.engine.config import EngineConfig
from rolellm.errors import ConfigError
from training.eval_config import EvalPaths, EvaluateConfig
from training.eval_data import BASELINE, EvalData, data_notes, load_eval_data
from training.eval_generate import Answers, generate, model_systems, requests_for, resolve_template
from training.eval_views import (
    EvalItem,
    RougeSettings,
    ScorerSet,
    Summary,
    compare,
    score_system,
    summarise,
)
from training.judge import JudgeConfig, JudgeItem, JudgeResult, judge_items, sample_items

SYSTEM_ORDER = ("rocit", "base", "model", BASELINE)

__all__ = ["EvalPaths", "EvalResult", "EvaluateConfig", "run_evaluate"]


# --- judge -------------------------------------------------------------------------------


def judge_groups(
    data: EvalData, answers: dict[str, Answers], cfg: JudgeConfig
) -> dict[tuple[str, str], list[JudgeItem]]:
    """(setting, system) -> items with a baseline answer; a failed or empty answer is
    judged as an empty answer (as Rouge-L scores it 0), so failures cannot raise a win rate."""
    groups: dict[tuple[str, str], list[JudgeItem]] = defaultdict(list)
    if data.baseline is None:
        return groups
    names = cfg.systems if cfg.systems is not None else tuple(answers)
    for name in names:
        if name not in answers:
            raise ConfigError(f"evaluate.judge.systems: no system {name!r} in this run")
        rows = zip(data.items, data.cards, answers[name].texts, data.baseline, strict=True)
        for item, card, answer, base in rows:
            if base:
                judged = JudgeItem(card.name, card.description, item.question, answer or "", base)
                groups[(item.setting, name)].append(judged)
    return groups


def run_judge(
    data: EvalData, answers: dict[str, Answers], cfg: JudgeConfig, cache_dir: str
) -> dict[tuple[str, str], JudgeResult]:
    from rolellm.engine.engine import build_engine

    engine_cfg = EngineConfig(
        backend="openai", openai=cfg.openai, json_retries=cfg.json_retries, cache_dir=cache_dir
    )
    engine = build_engine(engine_cfg, cfg.cache_stage)
    try:
        return {
            key: judge_items(sample_items(items, cfg.max_items, cfg.seed), engine, cfg)
            for key, items in judge_groups(data, answers, cfg).items()
        }
    finally:
        engine.close()


# --- outputs -----------------------------------------------------------------------------


def prediction_rows(items: list[EvalItem], texts: list[str | None]) -> dict[str, list[dict]]:
    """Per config, the release's row format; rows without an answer are left out."""
    out: dict[str, list[dict]] = defaultdict(list)
    for item, text in zip(items, texts, strict=True):
        if text is None:
            continue
        row: dict[str, Any] = {"role": item.role, "question": item.question, "generated": [text]}
        if item.kind == "role_specific" and item.type:
            row["type"] = item.type
        out[item.config].append(row)
    return out


def write_predictions(folder: Path, per_system: dict[str, list[str | None]], items) -> None:
    with atomic_path(folder) as tmp:
        for system, texts in per_system.items():
            for config, rows in prediction_rows(items, texts).items():
                path = tmp / system / f"{config}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
                path.write_text("".join(lines), encoding="utf-8")


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    notes: list[str]
    paths: EvalPaths
    systems: list[str]

    def lines(self) -> list[str]:
        out = []
        for setting, systems in self.metrics.items():
            for system, views in systems.items():
                shown = " ".join(f"{k}={v:.4f}" for k, v in views.items() if isinstance(v, float))
                judged = views.get("judge") or {}
                if judged.get("win_rate") is not None:
                    shown += f" judge_win_rate={judged['win_rate']:.3f} (n={judged['n']})"
                out.append(f"{setting} {system}: {shown}")
        return out + [f"note: {n}" for n in self.notes]


def run_evaluate(
    cfg: EvaluateConfig,
    engine: EngineConfig,
    paths: EvalPaths,
    *,
    train_template: str | None = None,
) -> EvalResult:
    """Generate, score, judge (when enabled) and write every output; see the module doc."""
    from training.eval_report import ReportInputs, write_report

    data = load_eval_data(paths.data, cfg)
    template, template_source = resolve_template(cfg, train_template)
    systems = model_systems(cfg, engine)
    requests, index = requests_for(data, template, cfg)
    answers = {s.name: generate(s, requests, index, cfg.cache_stage) for s in systems}
    notes = data_notes(data, cfg) + _failure_notes(answers)
    predictions = all_predictions(data, answers)
    summary = score_all(data.items, predictions, cfg.rouge)
    judged = run_judge(data, answers, cfg.judge, engine.cache_dir) if cfg.judge.enabled else {}
    metrics = build_metrics(summary, judged)
    write_json(paths.metrics, metrics)
    write_predictions(paths.predictions, predictions, data.items)
    inputs = ReportInputs(
        summary=summary,
        judged=judged,
        notes=notes,
        labels={s.name: s.label for s in systems} | {BASELINE: "rolegpt_baseline rows"},
        data=str(paths.data),
        split=cfg.split,
        rouge=cfg.rouge,
        max_new_tokens=cfg.max_new_tokens,
        template_source=template_source,
        judge=cfg.judge if cfg.judge.enabled else None,
    )
    write_report(inputs, paths)
    return EvalResult(metrics, notes, paths, summary.systems)


def all_predictions(data: EvalData, answers: dict[str, Answers]) -> dict[str, list[str | None]]:
    """Each system's answer per item. A failed generation is an empty answer (scored 0);
    the baseline's None (no rolegpt_baseline row) is not scored."""
    out: dict[str, list[str | None]] = {
        name: [t or "" for t in a.texts] for name, a in answers.items()
    }
    if data.baseline is not None:
        out[BASELINE] = data.baseline
    return out


def score_all(
    items: list[EvalItem], predictions: dict[str, list[str | None]], rouge: RougeSettings
) -> Summary:
    scorers = ScorerSet(rouge)
    scored = [
        row
        for name, texts in predictions.items()
        for row in score_system(name, items, texts, scorers)
    ]
    return summarise(scored, SYSTEM_ORDER)


def build_metrics(summary: Summary, judged: dict[tuple[str, str], JudgeResult]) -> dict[str, Any]:
    """The DVC metrics: views per setting and system, RoCIT − base, judge win rates."""
    metrics = summary.metrics()
    for row in compare(summary, "rocit", "base"):
        delta = metrics[row["setting"]].setdefault("rocit_minus_base", {})
        delta[row["view"]] = round(row["delta"], 6)
    for (setting, system), result in judged.items():
        metrics.setdefault(setting, {}).setdefault(system, {})["judge"] = _judge_metrics(result)
    return metrics


def _judge_metrics(result: JudgeResult) -> dict[str, Any]:
    keys = ("win_rate", "ci_low", "ci_high", "n")
    return {k: v for k, v in result.to_dict().items() if k in keys}


def _failure_notes(answers: dict[str, Answers]) -> list[str]:
    notes = []
    for name, a in answers.items():
        failed = sum(t is None for t in a.texts)
        if failed:
            first = a.errors[0] if a.errors else "unknown error"
            notes.append(
                f"{name}: generation failed for {failed} of {len(a.texts)} rows (scored as "
                f"empty answers, i.e. 0); first error: {first}"
            )
    return notes
