"""Evaluation outputs for people: per-role CSV, PNG plots, details JSON, Markdown report.

- ``eval_per_role.csv``: one row per (setting, view, role): ``n`` and each system's mean
  (usable by ``dvc plots``);
- ``plots/<setting>_<view>.png``: per-role bars, one bar per system (model, base, RoleGPT);
  ``plots/<setting>_overview.png``: every view and the average per system;
- ``eval_details.json``: counts, per-role / per-type breakdowns, full judge tallies, notes;
- ``eval.md``: the report, with the RoCIT-vs-base table and the plots embedded.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolellm.atomic import atomic_path, write_json, write_text
from training.eval_views import VIEWS, RougeSettings, Summary, compare, per_role_rows
from training.judge import JudgeConfig, JudgeResult

if TYPE_CHECKING:
    from training.eval_config import EvalPaths

COLOURS = {"rocit": "#1f77b4", "base": "#9e9e9e", "model": "#7b3fa0", "rolegpt": "#2ca02c"}
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


# --- plots -------------------------------------------------------------------------------


CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Arial Unicode MS",
)


def _has_cjk(texts: Sequence[str]) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for t in texts for ch in t)


def cjk_font() -> str | None:
    """An installed font that draws Chinese role names, if any."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@contextmanager
def _fonts() -> Iterator[None]:
    """DejaVu Sans with a CJK fallback when one is installed; without one, Chinese glyphs
    are drawn as boxes (the report says so) and matplotlib's per-glyph warnings are muted."""
    import matplotlib

    family = ["DejaVu Sans", *([font] if (font := cjk_font()) else [])]
    with matplotlib.rc_context({"font.family": family}), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        yield


def plot_notes(summary: Summary) -> list[str]:
    roles = [r for s in summary.settings for v in VIEWS for r in summary.roles(s, v)]
    if _has_cjk(roles) and cjk_font() is None:
        return [
            "No CJK font is installed, so Chinese role names show as boxes in the plots "
            f"(install one of: {', '.join(CJK_FONTS[:3])}); the CSV has the names."
        ]
    return []


def _figure(height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(8.0, height), dpi=100, layout="constrained")


def role_plot(summary: Summary, setting: str, view: str, path: Path) -> bool:
    """Per-role horizontal bars, one bar per system; False when nothing to draw."""
    roles = summary.roles(setting, view)
    systems = [s for s in summary.systems if summary.get(setting, s, view) is not None]
    if not roles or not systems:
        return False
    fig = _figure(max(2.5, 1.2 + 0.1 * len(roles) * len(systems)))
    ax = fig.add_subplot()
    width = 0.8 / len(systems)
    for k, system in enumerate(systems):
        cell = summary.get(setting, system, view)
        assert cell is not None
        values = [cell.per_role.get(role, 0.0) for role in roles]
        offsets = [i + (k - (len(systems) - 1) / 2) * width for i in range(len(roles))]
        colour = COLOURS.get(system)
        ax.barh(offsets, values, height=width, label=system, color=colour)
    ax.set_yticks(range(len(roles)), labels=roles)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(f"Rouge-L F1 ({view})")
    ax.set_title(f"{view} per role: {setting}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.savefig(path, format="png")
    return True


def overview_plot(summary: Summary, setting: str, path: Path) -> bool:
    """Views (and avg) on the x axis, one bar per system."""
    columns = [v for v in VIEWS if any(summary.get(setting, s, v) for s in summary.systems)]
    systems = [s for s in summary.systems if summary.avg(setting, s) is not None]
    if not columns or not systems:
        return False
    columns_all = [*columns, "avg"]
    fig = _figure(3.5)
    ax = fig.add_subplot()
    width = 0.8 / len(systems)
    for k, system in enumerate(systems):
        values = [_value(summary, setting, system, c) or 0.0 for c in columns_all]
        offsets = [i + (k - (len(systems) - 1) / 2) * width for i in range(len(columns_all))]
        ax.bar(offsets, values, width=width, label=system, color=COLOURS.get(system))
    ax.set_xticks(range(len(columns_all)), labels=columns_all)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("Rouge-L F1")
    ax.set_title(f"Overview: {setting}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.savefig(path, format="png")
    return True


def write_plots(summary: Summary, folder: Path) -> list[tuple[str, str, Path]]:
    """Every plot, written into ``folder`` atomically; (setting, title, final path) each."""
    drawn: list[tuple[str, str, Path]] = []
    with atomic_path(folder) as tmp, _fonts():
        tmp.mkdir(parents=True)
        for setting in summary.settings:
            name = f"{setting}_overview.png"
            if overview_plot(summary, setting, tmp / name):
                drawn.append((setting, f"{setting}: overview", folder / name))
            for view in VIEWS:
                name = f"{setting}_{view}.png"
                if role_plot(summary, setting, view, tmp / name):
                    drawn.append((setting, f"{setting}: {view} per role", folder / name))
    return drawn


# --- Markdown ----------------------------------------------------------------------------


def _value(summary: Summary, setting: str, system: str, column: str) -> float | None:
    if column == "avg":
        return summary.avg(setting, system)
    cell = summary.get(setting, system, column)
    return cell.mean if cell else None


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
