"""BM25 retrieval of a role's profile exchanges: the few-shot demonstrations of RoleGPT.

Tokens: jieba words for Chinese, lowercase Latin words for English (bm25s' English stop
words removed in both). An exchange is eligible as a demonstration when it has at least one
line before the target's line (the user turn) and at most `max_lines` lines in all.
Ranking: BM25 score, highest first, ties by profile order; when the question shares no word
with any exchange the first ones in profile order are used, so a role with at least k
eligible exchanges always gets k demonstrations.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN

from dataset_builder.segment import Exchange

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_CHINESE)


def tokenize(text: str, lang: str) -> list[str]:
    """Words of `text`: jieba for zh (punctuation and spaces dropped), else [a-z0-9'] runs."""
    if lang == "zh":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        words = [w.strip().lower() for w in jieba.lcut(text)]
        words = [w for w in words if w and any(ch.isalnum() for ch in w)]
    else:
        words = _WORD.findall(text.lower())
    return [w for w in words if w not in _STOP]


def exchange_text(exchange: Exchange) -> str:
    return " ".join(line.content for line in (*exchange.context, exchange.target))


def eligible(exchanges: Sequence[Exchange], max_lines: int) -> list[Exchange]:
    """Exchanges usable as a demonstration (see the module docstring)."""
    return [e for e in exchanges if e.context and len(e.context) + 1 <= max_lines]


class ExchangeIndex:
    """A BM25 index over one role's eligible exchanges."""

    def __init__(self, exchanges: Sequence[Exchange], lang: str, max_lines: int):
        self.lang = lang
        self.exchanges = eligible(exchanges, max_lines)
        self.bm25: bm25s.BM25 | None = None
        if self.exchanges:
            self.bm25 = bm25s.BM25()
            corpus = [tokenize(exchange_text(e), lang) for e in self.exchanges]
            self.bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.exchanges)

    def scores(self, query: str) -> np.ndarray:
        if self.bm25 is None:
            return np.zeros(0)
        tokens = tokenize(query, self.lang)
        return np.asarray(self.bm25.get_scores(tokens)) if tokens else np.zeros(len(self))

    def top(self, query: str, k: int) -> list[Exchange]:
        """The k best exchanges for `query` (fewer when the role has fewer eligible)."""
        if k <= 0 or not self.exchanges:
            return []
        order = np.argsort(-self.scores(query), kind="stable")[:k]
        return [self.exchanges[int(i)] for i in order]
