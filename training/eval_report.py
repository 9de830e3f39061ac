"""Evaluation outputs for people: per-role CSV, PNG plots, details JSON, Markdown report.

- ``eval_per_role.csv``: one row per (setting, view, role): ``n`` and each system's mean
  (usable by ``dvc plots``);
- ``plots/``: the PNG plots of eval_plots.py;
- ``eval_details.json``: counts, per-role / per-type breakdowns, full judge tallies, notes;
- ``eval.md``: the report, with the RoCIT-vs-base table and the plots embedded.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolellm.atomic import write_json, write_text
from training.eval_plots import plot_notes, write_plots
from training.eval_views import VIEWS, RougeSettings, Summary, compare, per_role_rows
from training.judge import JudgeConfig, JudgeResult

if TYPE_CHECKING:
    from training.eval_config import EvalPaths

VIEW_TEXT = {
    "RAW": "general questions vs. the instruction's original answer (instruction following)",
    "CUS": "general questions vs. the RoleGPT in-character answers (speaking style)",
    "SPE": "role-specific questions vs. the Context-Instruct answers (role knowledge)",
}


@dataclass(frozen=True)
class ReportInputs:
    summary: Summary
    judged: dict[tuple[str, str], JudgeResult]
    notes: list[str]
    labels: dict[str, str]
    data: str
    split: str
    rouge: RougeSettings
    max_new_tokens: int
    template_source: str
    judge: JudgeConfig | None = None


# --- CSV and details ---------------------------------------------------------------------


def per_role_csv(summary: Summary) -> str:
    fields = ["setting", "view", "role", "n", *summary.systems]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(per_role_rows(summary))
    return out.getvalue()


def details(inputs: ReportInputs) -> dict[str, Any]:
    s = inputs.summary
    cells: dict[str, Any] = {}
    for (setting, system, view), cell in s.cells.items():
        entry = cells.setdefault(setting, {}).setdefault(system, {})
        entry[view] = {
            "mean": cell.mean,
            "n": cell.count,
            "per_role": cell.per_role,
            "role_counts": cell.role_counts,
            "per_type": cell.per_type,
        }
    judge: dict[str, Any] = {}
    for (setting, system), result in inputs.judged.items():
        judge.setdefault(setting, {})[system] = result.to_dict()
    return {
        "data": inputs.data,
        "split": inputs.split,
        "systems": {name: inputs.labels.get(name, name) for name in s.systems},
        "rouge": inputs.rouge.model_dump(),
        "max_new_tokens": inputs.max_new_tokens,
        "system_prompt": inputs.template_source,
        "views": cells,
        "judge": judge,
        "notes": inputs.notes,
    }


# --- Markdown ----------------------------------------------------------------------------


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def rocit_section(summary: Summary, split: str) -> list[str]:
    lines = ["## Did RoCIT help?", ""]
    rows = compare(summary, "rocit", "base")
    if not rows:
        return lines + [
            "No RoCIT-vs-base comparison in this run (it needs an adapter and `compare_base`).",
            "",
        ]
    lines.append(
        "The trained model (`rocit`: base + adapter) against its base model without the "
        f"adapter, on the same `{split}` rows (Rouge-L F1; Δ = RoCIT − base)."
    )
    lines.append("")
    body = [
        [
            r["setting"],
            r["view"],
            _num(r["base"]),
            _num(r["model"]),
            _num(r["delta"], True),
            "better" if r["delta"] > 0 else ("same" if r["delta"] == 0 else "worse"),
        ]
        for r in rows
    ]
    return lines + _table(["setting", "view", "base", "RoCIT", "Δ", "RoCIT is"], body) + [""]


def scores_section(summary: Summary) -> list[str]:
    lines = ["## Rouge-L by setting", ""]
    for setting in summary.settings:
        lines += [f"### {setting}", ""]
        rows = []
        for system in summary.systems:
            if summary.avg(setting, system) is None:
                continue
            cells = []
            for view in VIEWS:
                cell = summary.get(setting, system, view)
                cells.append(f"{cell.mean:.4f} (n={cell.count})" if cell else "–")
            rows.append([f"**{system}**", *cells, _num(summary.avg(setting, system))])
        lines += _table(["system", *VIEWS, "avg"], rows) + [""]
    return lines


def types_section(summary: Summary) -> list[str]:
    rows = []
    types: list[str] = sorted(
        {t for (_, _, v), c in summary.cells.items() if v == "SPE" for t in c.per_type}
    )
    for setting in summary.settings:
        for system in summary.systems:
            cell = summary.get(setting, system, "SPE")
            if cell and cell.per_type:
                rows.append([setting, system, *(_num(cell.per_type.get(t)) for t in types)])
    if not rows:
        return []
    lines = ["## SPE by question type", ""]
    return lines + _table(["setting", "system", *types], rows) + [""]


def judge_section(inputs: ReportInputs) -> list[str]:
    cfg = inputs.judge
    if cfg is None:
        return []
    lines = [
        "## LLM judge: win rate against RoleGPT",
        "",
        f"Judge `{cfg.openai.model}` at {cfg.openai.base_url}. Each item is judged twice, "
        "with the system's answer first and then second, to cancel position bias; a tie "
        "counts half. Win rate = (wins + 0.5 ties) / comparisons, over items with two valid "
        f"verdicts; {cfg.confidence:.0%} percentile bootstrap interval over items "
        f"({cfg.bootstrap_samples} resamples, seed {cfg.seed}).",
        "",
    ]
    rows = []
    for (setting, system), r in sorted(inputs.judged.items()):
        ci = f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]" if r.ci else "–"
        rows.append(
            [
                setting,
                system,
                _num(r.win_rate),
                ci,
                str(len(r.item_scores)),
                f"{r.wins} / {r.ties} / {r.losses}",
                _num(r.prefers_a),
                _num(r.consistent),
                str(r.invalid),
            ]
        )
    header = ["setting", "system", "win rate", "CI", "items", "W / T / L"]
    header += ["picks A", "consistent", "invalid"]
    if not rows:
        return lines + ["No item had both a system answer and a RoleGPT baseline.", ""]
    return lines + _table(header, rows) + [""]


def plots_section(plots: list[tuple[str, str, Path]], report: Path, csv_path: Path) -> list[str]:
    link = os.path.relpath(csv_path, report.parent)
    lines = ["## Per role", "", f"Every role's scores: [{csv_path.name}]({link}).", ""]
    current = None
    for setting, title, path in plots:
        if setting != current:
            lines += [f"### {setting}", ""]
            current = setting
        lines += [f"![{title}]({os.path.relpath(path, report.parent)})", ""]
    return lines


def header_section(inputs: ReportInputs) -> list[str]:
    systems = [f"- **{n}**: {inputs.labels.get(n, n)}" for n in inputs.summary.systems]
    views = [f"- **{v}**: {VIEW_TEXT[v]}" for v in VIEWS]
    return [
        "# RoleLLM evaluation",
        "",
        f"Data: `{inputs.data}`, split `{inputs.split}`. Systems:",
        "",
        *systems,
        "",
        f"Generation: greedy decoding, at most {inputs.max_new_tokens} new tokens, the "
        "role-conditioned system prompt of training (its template: "
        f"{inputs.template_source}).",
        "",
        "Views:",
        "",
        *views,
        "",
        f"Scoring: {inputs.rouge.describe()} Means are over rows; avg is the mean of the "
        "views present.",
        "",
    ]


def render_markdown(inputs: ReportInputs, plots: list[tuple[str, str, Path]], paths) -> str:
    notes = [f"- {n}" for n in [*inputs.notes, *plot_notes(inputs.summary)]] or ["- none"]
    lines = [
        *header_section(inputs),
        *rocit_section(inputs.summary, inputs.split),
        *scores_section(inputs.summary),
        *types_section(inputs.summary),
        *judge_section(inputs),
        *plots_section(plots, paths.report, paths.per_role_csv),
        "## Notes",
        "",
        *notes,
    ]
    return "\n".join(lines) + "\n"


def write_report(inputs: ReportInputs, paths: EvalPaths) -> None:
    """CSV, plots, details JSON and the Markdown report under ``paths.reports``."""
    write_text(paths.per_role_csv, per_role_csv(inputs.summary))
    plots = write_plots(inputs.summary, paths.plots)
    write_json(paths.details, details(inputs))
    write_text(paths.report, render_markdown(inputs, plots, paths))
