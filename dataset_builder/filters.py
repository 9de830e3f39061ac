"""Keep/drop filters for generated rows, datatrove style.

A filter only answers one question about one row: drop it or not. Its `reason` names the
drop. `FilterRunner` applies filters in order, counts drops per reason (and per role), and
keeps every dropped row, with its reason, for the exclusion file. Rows that never reach the
filters (an engine error, a reply that is not the requested JSON) are recorded with
`FilterRunner.reject(row, reason)` so every loss is counted in one place.

Reasons used by the generation stages:
    too_short          a text field is empty or shorter than its minimum (after strip)
    no_confidence      the Context-Instruct item carries no confidence (Missing)
    low_confidence     Context-Instruct confidence below the threshold
    copies_example     the question or answer echoes the prompt's worked example (NearAny)
    out_of_character   the text contains an out-of-character marker ("as an AI", ...)
    copies_reference   the text copies the instruction's reference answer
    copies_profile     the text copies a line of the role's profile
    exact_duplicate    same normalised text as a kept row (per role)
    near_duplicate     rapidfuzz ratio >= threshold with a kept row (per role)
    (via reject)       engine_error, invalid_reply, too_few_responses
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from rolellm import rules
from rolellm.atomic import write_jsonl

Row = dict[str, Any]

_NOT_WORD = re.compile(r"[^\w\s]+")


def normalise(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: the duplicate-check form."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


class Filter:
    """Base class: `drop(row)` is True when the row must go; `reason` names the drop."""

    reason: str = "filtered"

    def drop(self, row: Row) -> bool:
        raise NotImplementedError


class TooShort(Filter):
    """Drop a row whose text fields are shorter than their minimum in columns (a CJK character
    counts two, rules.text_width; empty included)."""

    reason = "too_short"

    def __init__(self, minimum: Mapping[str, int]):
        self.minimum = dict(minimum)

    def drop(self, row: Row) -> bool:
        return any(rules.text_width(str(row.get(f) or "")) < n for f, n in self.minimum.items())


class Missing(Filter):
    """Drop a row whose `field` is absent or null."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason

    def drop(self, row: Row) -> bool:
        return row.get(self.field) is None


class LowConfidence(Filter):
    """Drop a row whose `field` is missing or below `threshold`."""

    reason = "low_confidence"

    def __init__(self, threshold: float, field: str = "confidence"):
        self.threshold, self.field = threshold, field

    def drop(self, row: Row) -> bool:
        value = row.get(self.field)
        return value is None or value < self.threshold


class NearAny(Filter):
    """Drop a row when one of its `fields`, normalised, has rapidfuzz ratio >= `threshold`
    with one of `texts` (e.g. a prompt's own worked example, which a small model echoes
    with a word changed)."""

    def __init__(self, fields: Sequence[str], texts: Iterable[str], threshold: float, reason: str):
        self.fields, self.threshold, self.reason = tuple(fields), threshold, reason
        self.texts = [normalise(t) for t in texts]

    def drop(self, row: Row) -> bool:
        return any(
            process.extractOne(
                normalise(str(row.get(f) or "")),
                self.texts,
                scorer=fuzz.ratio,
                processor=None,
                score_cutoff=self.threshold,
            )
            for f in self.fields
        )


class OutOfCharacter(Filter):
    """Drop a row whose `field` contains an out-of-character marker of `rule` (default: the
    English and Chinese markers, machine roles exempt)."""

    reason = "out_of_character"

    def __init__(self, field: str, rule: rules.OocRule | None = None):
        self.field, self.rule = field, rule or rules.OocRule()

    def drop(self, row: Row) -> bool:
        return self.rule.marker(str(row.get(self.field) or ""), row.get("role")) is not None


class CopiesReference(Filter):
    """Drop a row whose `field` copies its `source` field (the copy rule, rules.py)."""

    reason = "copies_reference"

    def __init__(
        self,
        field: str,
        source: str = "reference",
        ratio: float = rules.COPY_RATIO,
        min_chars: int = rules.COPY_MIN_CHARS,
    ):
        self.field, self.source, self.ratio, self.min_chars = field, source, ratio, min_chars

    def drop(self, row: Row) -> bool:
        text, source = str(row.get(self.field) or ""), str(row.get(self.source) or "")
        return bool(rules.copied_pairs([text], [source], self.ratio, self.min_chars, workers=1)[0])


class CopiesProfile(Filter):
    """Drop a row whose `field` copies a profile line of its role (the copy rule, rules.py)."""

    reason = "copies_profile"

    def __init__(
        self,
        field: str,
        profiles: Mapping[str, Sequence[str]],
        ratio: float = rules.COPY_RATIO,
        min_chars: int = rules.COPY_MIN_CHARS,
    ):
        self.field = field
        self.index = {
            role: rules.CopyIndex(lines, ratio, min_chars) for role, lines in profiles.items()
        }

    def drop(self, row: Row) -> bool:
        index = self.index.get(row.get("role"))
        return index is not None and index.copies(str(row.get(self.field) or ""))


class ExactDuplicate(Filter):
    """Drop a row whose normalised `field` equals that of an earlier kept row of its scope."""

    reason = "exact_duplicate"

    def __init__(self, field: str, scope: str = "role"):
        self.field, self.scope = field, scope
        self.seen: dict[Any, set[str]] = defaultdict(set)

    def drop(self, row: Row) -> bool:
        key, seen = normalise(str(row.get(self.field) or "")), self.seen[row.get(self.scope)]
        if key in seen:
            return True
        seen.add(key)
        return False


class NearDuplicate(Filter):
    """Drop a row whose normalised `field` has rapidfuzz ratio >= threshold (0-100) with an
    earlier row of its scope that passed this filter."""

    reason = "near_duplicate"

    def __init__(self, field: str, threshold: float, scope: str = "role"):
        self.field, self.threshold, self.scope = field, threshold, scope
        self.seen: dict[Any, list[str]] = defaultdict(list)

    def drop(self, row: Row) -> bool:
        text, seen = normalise(str(row.get(self.field) or "")), self.seen[row.get(self.scope)]
        hit = process.extractOne(
            text, seen, scorer=fuzz.ratio, processor=None, score_cutoff=self.threshold
        )
        if hit is not None:
            return True
        seen.append(text)
        return False


class FilterRunner:
    """Apply filters in order; count drops per reason and per role; keep the dropped rows."""

    def __init__(self, filters: Sequence[Filter] = ()):
        self.filters = list(filters)
        self.counts: Counter[str] = Counter()
        self.by_role: dict[str, Counter[str]] = defaultdict(Counter)
        self.excluded: list[Row] = []

    def reject(self, row: Row, reason: str) -> None:
        """Record a row dropped outside the filters (engine error, invalid reply, ...)."""
        self.counts[reason] += 1
        self.by_role[str(row.get("role"))][reason] += 1
        self.excluded.append({**row, "reason": reason})

    def keep(self, row: Row) -> bool:
        for flt in self.filters:
            if flt.drop(row):
                self.reject(row, flt.reason)
                return False
        return True

    def run(self, rows: Iterable[Row]) -> list[Row]:
        return [row for row in rows if self.keep(row)]

    def write_excluded(self, path: str | Path) -> int:
        return write_jsonl(path, self.excluded)

    def metrics(self) -> dict[str, Any]:
        return {
            "dropped": dict(sorted(self.counts.items())),
            "dropped_per_role": {
                r: dict(sorted(c.items())) for r, c in sorted(self.by_role.items())
            },
        }
