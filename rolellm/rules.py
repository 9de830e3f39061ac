"""Content rules written once: copy detection, out-of-character markers, secret shapes.

The generation filters (dataset_builder.filters), the quality gate's helper columns
(dataset_builder.validation.checks), the secret scan before a release leaves the machine
(cards.secrets) and the params validators (cards.config, rolellm.engine.config) all call
this module, so a rule cannot drift between the place that drops a row and the place that
checks it.

Length: texts are measured in columns (`text_width`), where a wide character (CJK) counts
two, so one minimum serves English and Chinese: `你在等谁？` (5 characters) is 10 columns,
about as long as `Who is it?`.

Copy rule: a text of at least `min_chars` columns (after strip) copies a source when,
after rapidfuzz's `default_process` (lower case, non-alphanumerics to spaces, trimmed), both
are non-empty and equal, or their `fuzz.ratio` (0-100) is >= `ratio`.

Out-of-character rule: a text breaks character when it contains one of the markers
(case-insensitive substring), unless its role is exempt (a machine playing itself).

`RulesConfig` is the `rules:` section of params.yaml: the one place that sets the copy and
out-of-character knobs for the generation stages and the gate alike.

Secret shapes (each must start a word, so "task-specific-instructions" is prose):
    Hub tokens     hf_ + at least 20 letters/digits (real ones: hf_ + 34)
    OpenAI keys    sk-[proj-|svcacct-|admin-...] + at least 16 of [A-Za-z0-9_-], one a digit
    private keys   -----BEGIN ... PRIVATE KEY
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from typing import Annotated

import numpy as np
from pydantic import Field
from rapidfuzz import fuzz, process, utils

from rolellm.sections import Section

# ----------------------------------------------------------------------------- copy

COPY_RATIO = 95.0
COPY_MIN_CHARS = 20


def text_width(text: str) -> int:
    """Columns of the stripped text: wide and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text.strip())


def long_enough(text: str, min_chars: int = COPY_MIN_CHARS) -> bool:
    """Whether `text` is long enough for the copy rule to look at it."""
    return text_width(text) >= min_chars


class CopyIndex:
    """Source texts (a role's profile lines, one reference, ...) asked "does this copy one?".

    Sources are processed once and sorted by length: a ratio of at least r% needs lengths
    within a factor r / (200 - r), so a text is scored against that length window only.
    """

    def __init__(
        self, sources: Iterable[str], ratio: float = COPY_RATIO, min_chars: int = COPY_MIN_CHARS
    ) -> None:
        processed = sorted((len(p), p) for p in map(utils.default_process, sources) if p)
        self.lengths = [n for n, _ in processed]
        self.sources = [p for _, p in processed]
        self.exact = set(self.sources)
        self.ratio, self.min_chars = ratio, min_chars
        self._factor = ratio / (200.0 - ratio)

    def __len__(self) -> int:
        return len(self.sources)

    def copies(self, text: str) -> bool:
        if not self.sources or not long_enough(text, self.min_chars):
            return False
        text = utils.default_process(text)
        if not text:
            return False
        if text in self.exact:
            return True
        lo = bisect.bisect_left(self.lengths, len(text) * self._factor)
        hi = bisect.bisect_right(self.lengths, len(text) / self._factor)
        window = self.sources[lo:hi]
        return (
            bool(window)
            and process.extractOne(
                text, window, scorer=fuzz.ratio, processor=None, score_cutoff=self.ratio
            )
            is not None
        )

    def copies_any(self, texts: Iterable[str]) -> bool:
        return any(self.copies(text) for text in texts)


def copied_pairs(
    texts: Sequence[str],
    sources: Sequence[str],
    ratio: float = COPY_RATIO,
    min_chars: int = COPY_MIN_CHARS,
    workers: int = -1,
) -> np.ndarray:
    """Per position i, whether texts[i] copies sources[i]: `CopyIndex([s]).copies(t)` for
    every pair, scored in one vectorised rapidfuzz call (the gate's 168k rows take seconds)."""
    hits = np.zeros(len(texts), bool)
    todo = [
        i
        for i, (text, source) in enumerate(zip(texts, sources, strict=True))
        if source.strip() and long_enough(text, min_chars)
    ]
    if not todo:
        return hits
    scores = process.cpdist(
        [texts[i] for i in todo],
        [sources[i] for i in todo],
        scorer=fuzz.ratio,
        processor=utils.default_process,
        workers=workers,
    )
    for k in np.flatnonzero(scores >= ratio):
        # Two texts that process to "" score 100: nothing was copied.
        hits[todo[k]] = bool(utils.default_process(texts[todo[k]]))
    return hits


# ----------------------------------------------------------------------------- out of character

OOC_MARKERS_EN: tuple[str, ...] = (
    "as an AI",
    "language model",
    "I cannot assist",
    "I can't assist",
    "I'm an AI",
    "I am an AI",
)
OOC_MARKERS_ZH: tuple[str, ...] = (
    "作为一个AI",
    "作为一个人工智能",
    "作为AI",
    "作为人工智能",
    "语言模型",
    "我是一个AI",
    "人工智能助手",
)
OOC_MARKERS: tuple[str, ...] = OOC_MARKERS_EN + OOC_MARKERS_ZH
# Characters who are machines themselves: HAL 9000 says "As an AI" in character.
OOC_EXEMPT_ROLES: tuple[str, ...] = ("HAL 9000", "Sonny")


class OocRule:
    """Out-of-character markers (case-insensitive substrings) and the roles exempt from them.

    `pattern` is the regular expression as text, usable by Python `re` and by Arrow's RE2
    (`pyarrow.compute.match_substring_regex(..., ignore_case=True)`); None without markers.
    """

    def __init__(
        self, markers: Sequence[str] = OOC_MARKERS, exempt: Iterable[str] = OOC_EXEMPT_ROLES
    ) -> None:
        self.markers = tuple(m for m in markers if m)
        self.exempt: frozenset[str] = frozenset(exempt)
        self.pattern = "|".join(re.escape(m) for m in self.markers) or None
        self._finder = re.compile(self.pattern, re.IGNORECASE) if self.pattern else None

    def is_exempt(self, role: object) -> bool:
        return role in self.exempt

    def marker(self, text: str, role: object = None) -> str | None:
        """The first marker in `text` as written there, or None (always None when exempt)."""
        if self._finder is None or self.is_exempt(role):
            return None
        match = self._finder.search(text)
        return match.group(0) if match else None


# ----------------------------------------------------------------------------- secrets

SECRET_SHAPES: tuple[tuple[str, str], ...] = (
    ("Hub token (hf_...)", r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{20,}"),
    (
        "OpenAI key (sk-...)",
        # any digit in the run: prose like "sk-something-long-and-hyphenated" carries none
        r"(?<![A-Za-z0-9_-])sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{16,}",
    ),
    ("private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY"),
)
_SECRET_TEXT = tuple((name, re.compile(shape)) for name, shape in SECRET_SHAPES)
_SECRET_BYTES = tuple((name, re.compile(shape.encode("ascii"))) for name, shape in SECRET_SHAPES)


def secret_shapes(data: str | bytes) -> list[str]:
    """The names of the secret shapes present in `data` (each at most once, in order)."""
    shapes = _SECRET_BYTES if isinstance(data, bytes | bytearray) else _SECRET_TEXT
    return [name for name, pattern in shapes if pattern.search(data)]


def looks_like_secret(value: object) -> bool:
    """Whether a string (or any string in a list/tuple) has a secret shape."""
    texts: Collection[object] = value if isinstance(value, list | tuple) else [value]
    return any(isinstance(text, str) and secret_shapes(text) for text in texts)


# ----------------------------------------------------------------------------- params


class RulesConfig(Section):
    """The `rules` section of params.yaml: read by RoleGPT, Context-Instruct and the gate.

    Fields:
        copy_ratio / copy_min_chars: a text of at least `copy_min_chars` characters copies a
            source (a reference answer, a profile line) when, after normalisation, it is
            equal or its rapidfuzz ratio (0-100) is >= `copy_ratio`.
        ooc_markers_en / ooc_markers_zh: case-insensitive out-of-character substrings (the
            generation filters use both lists, the gate those of the shard's language).
        ooc_exempt_roles: characters who are machines themselves (HAL 9000 says "As an AI"
            in character).
    """

    copy_ratio: Annotated[float, Field(gt=0.0, le=100.0)] = COPY_RATIO
    copy_min_chars: Annotated[int, Field(ge=1)] = COPY_MIN_CHARS
    ooc_markers_en: tuple[str, ...] = OOC_MARKERS_EN
    ooc_markers_zh: tuple[str, ...] = OOC_MARKERS_ZH
    ooc_exempt_roles: tuple[str, ...] = OOC_EXEMPT_ROLES

    def copy_index(self, sources: Iterable[str]) -> CopyIndex:
        return CopyIndex(sources, self.copy_ratio, self.copy_min_chars)

    def copied_pairs(self, texts: Sequence[str], sources: Sequence[str]) -> np.ndarray:
        return copied_pairs(texts, sources, self.copy_ratio, self.copy_min_chars)

    def ooc(self, lang: str | None = None) -> OocRule:
        """The out-of-character rule of one language ("zh", "en"), or of both (None)."""
        if lang is None:
            markers = self.ooc_markers_en + self.ooc_markers_zh
        else:
            markers = self.ooc_markers_zh if lang == "zh" else self.ooc_markers_en
        return OocRule(markers, self.ooc_exempt_roles)
