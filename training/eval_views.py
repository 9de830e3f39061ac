"""RoleLLM's three Rouge-L views of a system's answers, and their breakdowns.

- **RAW**: general questions, against the instruction's original answer (``reference``);
  rows whose ``reference`` is "" (an import of the original release) are skipped and counted.
- **CUS**: general questions, against the RoleGPT in-character answers (``generated``).
- **SPE**: role-specific questions, against the Context-Instruct answer(s) (``generated``).

Each row scores the Rouge-L F1 of the answer against its references; with several
references the row takes the best F1 (``multi_ref: max``) or scores against the first one
only (``first``). Means are over rows (every row weighs the same), overall, per role, per
question type (script_based / script_agnostic, role-specific rows) and per setting
(instruction_generalization, role_generalization, zh). ``avg`` is the mean of the views a
system has in a setting (the paper's CUS / RAW / SPE average when all three are present).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rolellm.sections import Section

if TYPE_CHECKING:  # rouge-score pulls in nltk: imported when scoring, not with the config
    from training.rouge import RougeL

View = Literal["CUS", "RAW", "SPE"]
VIEWS: tuple[View, ...] = ("CUS", "RAW", "SPE")  # the paper's column order

__all__ = [
    "VIEWS",
    "Cell",
    "EvalItem",
    "RougeSettings",
    "Scored",
    "ScorerSet",
    "Summary",
    "compare",
    "per_role_rows",
    "score_system",
    "summarise",
]


class RougeSettings(Section):
    """How Rouge-L is computed (the same settings as ``rolellm score``)."""

    multi_ref: Literal["max", "first"] = "max"
    use_stemmer: bool = False  # English only: Porter stemming (rouge-score's option)
    zh_tokens: Literal["words", "chars"] = "words"  # Chinese: jieba words or characters

    def describe(self) -> str:
        multi = (
            "the best F1 over its references (max)"
            if self.multi_ref == "max"
            else "its first reference only (first)"
        )
        stem = "with" if self.use_stemmer else "without"
        zh = "jieba words" if self.zh_tokens == "words" else "characters"
        return (
            f"Rouge-L F1; a row with several references scores {multi}. English: rouge-score "
            f"tokenizer {stem} Porter stemming. Chinese: {zh}."
        )


@dataclass(frozen=True)
class EvalItem:
    """One test question of one config, with everything its views score against."""

    config: str
    setting: str
    lang: str
    kind: str  # general | role_specific
    role: str
    question: str
    references: tuple[str, ...]  # `generated`: RoleGPT answers or Context-Instruct answer(s)
    raw_reference: str = ""  # general only: the original answer ("" when unknown)
    type: str | None = None  # role_specific only: script_based | script_agnostic

    def views(self) -> list[tuple[View, tuple[str, ...]]]:
        """(view, references) pairs this item is scored in."""
        refs = tuple(r for r in self.references if r.strip())
        if self.kind == "role_specific":
            return [("SPE", refs)] if refs else []
        out: list[tuple[View, tuple[str, ...]]] = [("CUS", refs)] if refs else []
        if self.raw_reference.strip():
            out.append(("RAW", (self.raw_reference,)))
        return out


class ScorerSet:
    """One memoising ``RougeL`` per language, built with the same settings."""

    def __init__(self, settings: RougeSettings) -> None:
        self.settings = settings
        self._scorers: dict[str, RougeL] = {}

    def for_lang(self, lang: str) -> RougeL:
        scorer = self._scorers.get(lang)
        if scorer is None:
            from training.rouge import RougeL

            s = self.settings
            scorer = self._scorers[lang] = RougeL(
                "zh" if lang == "zh" else "en",
                use_stemmer=s.use_stemmer and lang != "zh",
                zh_tokens=s.zh_tokens,
                multi_ref=s.multi_ref,
            )
        return scorer


@dataclass(frozen=True)
class Scored:
    """The Rouge-L F1 of one system's answer to one item in one view."""

    system: str
    setting: str
    config: str
    view: View
    role: str
    type: str | None
    score: float


def score_system(
    system: str,
    items: Sequence[EvalItem],
    answers: Sequence[str | None],
    scorers: ScorerSet,
) -> list[Scored]:
    """Score every view of every item; an answer of None means "no answer": not scored."""
    if len(items) != len(answers):
        raise ValueError(f"{len(items)} items but {len(answers)} answers")
    out: list[Scored] = []
    for item, answer in zip(items, answers, strict=True):
        if answer is None:
            continue
        scorer = scorers.for_lang(item.lang)
        for view, refs in item.views():
            value = scorer.score(answer, refs)
            out.append(Scored(system, item.setting, item.config, view, item.role, item.type, value))
    return out


@dataclass(frozen=True)
class Cell:
    """One (setting, system, view): the mean and its breakdowns."""

    mean: float
    count: int
    per_role: dict[str, float]
    role_counts: dict[str, int]
    per_type: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[Scored]) -> Cell:
        from training.score import aggregate

        agg = aggregate([r.score for r in rows], [r.role for r in rows], [r.type for r in rows])
        counts = Counter(r.role for r in rows)
        return cls(agg.overall, agg.count, agg.per_role, dict(sorted(counts.items())), agg.per_type)


CellKey = tuple[str, str, str]  # (setting, system, view)


@dataclass
class Summary:
    """Every cell, with the settings and systems in the order they were first seen."""

    cells: dict[CellKey, Cell]
    settings: list[str]
    systems: list[str]

    def get(self, setting: str, system: str, view: str) -> Cell | None:
        return self.cells.get((setting, system, view))

    def avg(self, setting: str, system: str) -> float | None:
        means = [c.mean for v in VIEWS if (c := self.get(setting, system, v)) is not None]
        return math.fsum(means) / len(means) if means else None

    def metrics(self) -> dict[str, Any]:
        """{setting: {system: {CUS, RAW, SPE, avg, SPE_by_type}}}: plain numbers for DVC."""
        out: dict[str, Any] = {}
        for setting in self.settings:
            for system in self.systems:
                entry: dict[str, Any] = {}
                for view in VIEWS:
                    cell = self.get(setting, system, view)
                    if cell is not None:
                        entry[view] = round(cell.mean, 6)
                        if cell.per_type:
                            entry[f"{view}_by_type"] = {
                                k: round(v, 6) for k, v in cell.per_type.items()
                            }
                avg = self.avg(setting, system)
                if avg is not None:
                    entry["avg"] = round(avg, 6)
                    out.setdefault(setting, {})[system] = entry
        return out

    def counts(self) -> dict[str, Any]:
        """{setting: {system: {view: rows scored}}}."""
        out: dict[str, Any] = {}
        for (setting, system, view), cell in self.cells.items():
            out.setdefault(setting, {}).setdefault(system, {})[view] = cell.count
        return out

    def roles(self, setting: str, view: str) -> list[str]:
        found = {
            role
            for (s, _, v), cell in self.cells.items()
            if s == setting and v == view
            for role in cell.per_role
        }
        return sorted(found)


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def summarise(scored: Sequence[Scored], systems: Sequence[str] = ()) -> Summary:
    """Group scored rows into cells; ``systems`` fixes the system order (others follow)."""
    groups: dict[CellKey, list[Scored]] = {}
    for row in scored:
        groups.setdefault((row.setting, row.system, row.view), []).append(row)
    cells = {key: Cell.of(rows) for key, rows in groups.items()}
    seen = _first_seen(r.system for r in scored)
    order = [s for s in systems if s in seen] + [s for s in seen if s not in systems]
    return Summary(cells, _first_seen(r.setting for r in scored), order)


def per_role_rows(summary: Summary) -> list[dict[str, Any]]:
    """One row per (setting, view, role): the role's count and each system's mean (or "")."""
    rows: list[dict[str, Any]] = []
    for setting in summary.settings:
        for view in VIEWS:
            for role in summary.roles(setting, view):
                row: dict[str, Any] = {"setting": setting, "view": view, "role": role, "n": 0}
                for system in summary.systems:
                    cell = summary.get(setting, system, view)
                    value = cell.per_role.get(role) if cell else None
                    row[system] = "" if value is None else round(value, 6)
                    if cell and role in cell.role_counts:
                        row["n"] = max(row["n"], cell.role_counts[role])
                rows.append(row)
    return rows


def compare(summary: Summary, model: str, base: str, views: Sequence[str] = ("CUS", "SPE")):
    """Rows {setting, view, base, model, delta} where both systems have the view."""
    rows = []
    for setting in summary.settings:
        for view in views:
            a, b = summary.get(setting, model, view), summary.get(setting, base, view)
            if a is not None and b is not None:
                rows.append(
                    {
                        "setting": setting,
                        "view": view,
                        "base": b.mean,
                        "model": a.mean,
                        "delta": a.mean - b.mean,
                    }
                )
    return rows
