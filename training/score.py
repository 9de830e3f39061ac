"""Score predictions against references (RoleBench row format) with Rouge-L.

Both files are JSON Lines in the release's row format: ``{"role": str, "question": str,
"generated": str | [str, ...], "type"?: str | [str, ...]}``. A prediction row's answer is the
first string of its ``generated``; a reference row's ``generated`` holds its references.

Rows are matched by ``(role, question.strip())``. When a key occurs several times (the
English role-specific release repeats 25 questions), the k-th prediction row of that key is
matched with the k-th reference row of that key; rows left over on either side are counted
as unmatched, never scored.

``aggregate`` (overall / per-role / per-question-type means) is shared with evaluation.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rolellm.errors import ConfigError, InputError
from rolellm.records import read_jsonl_objects
from training.rouge import Lang, MultiRef, RougeL, ZhTokens

__all__ = [
    "Aggregate",
    "Matching",
    "Row",
    "aggregate",
    "match_rows",
    "read_rows",
    "score_files",
]


@dataclass(frozen=True)
class Row:
    """One validated row; ``line`` is its 1-based line number in ``path``."""

    role: str
    question: str
    generated: tuple[str, ...]
    type: str | None
    path: str
    line: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.role, self.question.strip())


@dataclass(frozen=True)
class Aggregate:
    """Means of per-row scores: overall (over all rows), per role, per question type."""

    overall: float
    count: int
    per_role: dict[str, float]
    per_type: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "overall": self.overall,
            "count": self.count,
            "per_role": self.per_role,
        }
        if self.per_type:
            out["per_type"] = self.per_type
        return out


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def aggregate(
    scores: Sequence[float],
    roles: Sequence[str],
    types: Sequence[str | None] | None = None,
) -> Aggregate:
    """Overall mean (every row weighs the same), per-role means, per-type means.

    ``types`` is optional; rows whose type is None are left out of ``per_type`` only.
    Keys of ``per_role`` / ``per_type`` are sorted.
    """
    if not scores:
        raise ValueError("nothing to aggregate: no scores")
    if len(roles) != len(scores) or (types is not None and len(types) != len(scores)):
        raise ValueError("scores, roles and types must have the same length")
    by_role: dict[str, list[float]] = defaultdict(list)
    by_type: dict[str, list[float]] = defaultdict(list)
    for i, (value, role) in enumerate(zip(scores, roles, strict=True)):
        by_role[role].append(value)
        if types is not None and types[i] is not None:
            by_type[types[i]].append(value)
    return Aggregate(
        overall=_mean(scores),
        count=len(scores),
        per_role={role: _mean(v) for role, v in sorted(by_role.items())},
        per_type={kind: _mean(v) for kind, v in sorted(by_type.items())},
    )


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def read_rows(path: str | Path) -> list[Row]:
    """Read and validate a row file; any problem raises InputError naming file and line."""
    path = Path(path)
    rows: list[Row] = []
    for lineno, obj in read_jsonl_objects(path):
        for name in ("role", "question", "generated"):
            if name not in obj:
                raise InputError(f"{path}: line {lineno}: row has no '{name}' field")
        for name in ("role", "question"):
            if not isinstance(obj[name], str):
                raise InputError(f"{path}: line {lineno}: '{name}' must be a string")
        generated = _string_list(obj["generated"])
        if not generated:
            raise InputError(
                f"{path}: line {lineno}: 'generated' must be a string or a non-empty list of"
                " strings"
            )
        kind = _string_list(obj.get("type"))
        rows.append(
            Row(
                role=obj["role"],
                question=obj["question"],
                generated=generated,
                type=kind[0] if kind else None,
                path=str(path),
                line=lineno,
            )
        )
    return rows


@dataclass(frozen=True)
class Matching:
    pairs: list[tuple[Row, Row]]  # (prediction, reference)
    unmatched_predictions: list[Row]
    unmatched_references: list[Row]


def match_rows(predictions: Sequence[Row], references: Sequence[Row]) -> Matching:
    """Pair rows by (role, stripped question); repeated keys pair in order of appearance."""
    waiting: dict[tuple[str, str], deque[Row]] = defaultdict(deque)
    for ref in references:
        waiting[ref.key].append(ref)
    pairs: list[tuple[Row, Row]] = []
    lonely: list[Row] = []
    for pred in predictions:
        queue = waiting.get(pred.key)
        if queue:
            pairs.append((pred, queue.popleft()))
        else:
            lonely.append(pred)
    left = sorted((r for q in waiting.values() for r in q), key=lambda r: r.line)
    return Matching(pairs, lonely, left)


def score_files(
    predictions_path: str | Path,
    references_path: str | Path,
    *,
    lang: Lang = "en",
    multi_ref: MultiRef = "max",
    use_stemmer: bool = False,
    zh_tokens: ZhTokens = "words",
) -> dict[str, Any]:
    """Rouge-L F1 of a prediction file against a reference file, as one JSON-ready dict.

    Keys: ``rougeL`` (mean over matched rows), ``matched``, ``unmatched_predictions``,
    ``unmatched_references``, ``per_role``, ``per_type`` (when reference rows carry a
    ``type``), and the settings used.
    """
    try:
        scorer = RougeL(lang, use_stemmer=use_stemmer, zh_tokens=zh_tokens, multi_ref=multi_ref)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    preds = read_rows(predictions_path)
    refs = read_rows(references_path)
    matching = match_rows(preds, refs)
    if not matching.pairs:
        raise InputError(
            f"{predictions_path}: no row matches a row of {references_path} "
            f"({len(preds)} vs {len(refs)} rows; rows match on role + stripped question)"
        )
    scores = scorer.score_many(
        [p.generated[0] for p, _ in matching.pairs], [r.generated for _, r in matching.pairs]
    )
    agg = aggregate(
        scores,
        [r.role for _, r in matching.pairs],
        [r.type if r.type is not None else p.type for p, r in matching.pairs],
    )
    out: dict[str, Any] = {
        "rougeL": agg.overall,
        "matched": len(matching.pairs),
        "unmatched_predictions": len(matching.unmatched_predictions),
        "unmatched_references": len(matching.unmatched_references),
        "per_role": agg.per_role,
    }
    if agg.per_type:
        out["per_type"] = agg.per_type
    out["settings"] = {
        "lang": lang,
        "multi_ref": multi_ref,
        "use_stemmer": use_stemmer,
        "zh_tokens": zh_tokens if lang == "zh" else None,
    }
    return out
