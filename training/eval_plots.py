"""Evaluation plots (matplotlib, no display needed), written atomically into one folder:

- ``<setting>_<view>.png``: per-role bars, one bar per system (model, base, RoleGPT);
- ``<setting>_overview.png``: every view and the average per system.

Chinese role names need a CJK font; without one the report says so (`plot_notes`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rolellm.atomic import atomic_path
from training.eval_views import VIEWS, Summary

COLOURS = {"rocit": "#1f77b4", "base": "#9e9e9e", "model": "#7b3fa0", "rolegpt": "#2ca02c"}

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
        values = [score_of(summary, setting, system, c) or 0.0 for c in columns_all]
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


def score_of(summary: Summary, setting: str, system: str, column: str) -> float | None:
    """A system's mean for one view of a setting, or its average over views ("avg")."""
    if column == "avg":
        return summary.avg(setting, system)
    cell = summary.get(setting, system, column)
    return cell.mean if cell else None
