"""Rouge-L with exactly the numbers of Google's ``rouge-score``, many times faster.

``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` spends almost all its time in a
pure-Python LCS table and in re-tokenising the prediction once per reference. ``RougeL`` gives
the same precision / recall / F1 (bit for bit: the same tokens and the same float arithmetic)
but

- tokenises each distinct text once (a per-scorer memo: text -> token ids),
- maps tokens to small integers, so equal ids mean equal tokens (no hashing of strings),
- computes the LCS length with ``rapidfuzz.distance.LCSseq`` (bit-parallel, no length limit).

Tokenizers (each is a ``rouge_score.tokenizers.Tokenizer``, so the very same object can be
handed to ``RougeScorer(["rougeL"], tokenizer=...)`` to check equality):

- ``en``: rouge-score's own ``rouge_score.tokenize.tokenize``, i.e. its DefaultTokenizer:
  lowercase, every run of characters outside ``[a-z0-9]`` becomes a space (so accented and
  non-Latin letters are dropped), split on whitespace. With ``use_stemmer=True`` nltk's
  ``PorterStemmer`` (the one rouge-score uses) is applied to tokens longer than 3 characters;
  we only memoise its answers per word.
- ``zh`` words: ``jieba.lcut(text)`` (default dictionary, accurate mode, HMM on), dropping
  tokens that are empty or whitespace only (``not tok.strip()``). No lowercasing, no
  punctuation removal: punctuation tokens count, as they would in rouge-score with this
  tokenizer. Adding words to jieba's dictionary while a scorer is alive makes its memo stale.
- ``zh`` chars: one token per character that is not whitespace (``not ch.isspace()``).

Scores of empty token lists follow rouge-score: if the prediction or a reference has no
token, that pair scores 0 (precision, recall and F1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import LCSseq
from rouge_score import tokenize as _rs_tokenize
from rouge_score.tokenizers import Tokenizer

Lang = Literal["en", "zh"]
ZhTokens = Literal["words", "chars"]
MultiRef = Literal["max", "first"]

__all__ = [
    "CharTokenizer",
    "EnglishTokenizer",
    "JiebaTokenizer",
    "RougeL",
    "Score",
    "make_tokenizer",
]


@dataclass(frozen=True)
class Score:
    """Rouge-L of one prediction against one reference (rouge-score's ``Score`` fields)."""

    precision: float
    recall: float
    fmeasure: float


_ZERO = Score(0.0, 0.0, 0.0)


class _MemoStemmer:
    """nltk's Porter stemmer, as rouge-score's DefaultTokenizer builds it, memoised per word."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()
        self._memo: dict[str, str] = {}

    def stem(self, word: str) -> str:
        out = self._memo.get(word)
        if out is None:
            out = self._memo[word] = self._stemmer.stem(word)
        return out


class EnglishTokenizer(Tokenizer):
    """rouge-score's default tokenizer (``rouge_score.tokenize.tokenize``), stemmer memoised."""

    def __init__(self, use_stemmer: bool = False) -> None:
        self.use_stemmer = use_stemmer
        self._stemmer = _MemoStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        return _rs_tokenize.tokenize(text, self._stemmer)


class JiebaTokenizer(Tokenizer):
    """``jieba.lcut(text)`` without empty / whitespace-only tokens."""

    def __init__(self) -> None:
        import jieba

        # jieba announces its dictionary loading on stderr at DEBUG level.
        jieba.setLogLevel(logging.WARNING)
        self._lcut = jieba.lcut

    def tokenize(self, text: str) -> list[str]:
        return [tok for tok in self._lcut(text) if tok.strip()]


class CharTokenizer(Tokenizer):
    """One token per non-whitespace character."""

    def tokenize(self, text: str) -> list[str]:
        return [ch for ch in text if not ch.isspace()]


def make_tokenizer(
    lang: Lang = "en", *, use_stemmer: bool = False, zh_tokens: ZhTokens = "words"
) -> Tokenizer:
    """The tokenizer ``RougeL`` uses for these settings (usable by rouge-score too)."""
    if lang == "en":
        return EnglishTokenizer(use_stemmer)
    if lang != "zh":
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    if use_stemmer:
        raise ValueError("use_stemmer applies to English only (lang='en')")
    if zh_tokens == "words":
        return JiebaTokenizer()
    if zh_tokens == "chars":
        return CharTokenizer()
    raise ValueError(f"zh_tokens must be 'words' or 'chars', got {zh_tokens!r}")


def _f1(lcs: int, n_pred: int, n_ref: int) -> float:
    # rouge_scorer._score_lcs + scoring.fmeasure, same operations in the same order.
    if not n_pred or not n_ref:
        return 0.0
    precision = lcs / n_pred
    recall = lcs / n_ref
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


class RougeL:
    """Rouge-L (LCS) of predictions against references, equal to rouge-score's ``rougeL``.

    ``multi_ref="max"`` takes the reference with the highest F1 (rouge-score's
    ``score_multi``; on ties the first one); ``"first"`` scores against the first reference only.

    Example::

        scorer = RougeL("en")
        scorer.score("the cat sat", ["a cat sat down", "dogs"])  # -> 0.5714...
    """

    def __init__(
        self,
        lang: Lang = "en",
        *,
        use_stemmer: bool = False,
        zh_tokens: ZhTokens = "words",
        multi_ref: MultiRef = "max",
    ) -> None:
        if multi_ref not in ("max", "first"):
            raise ValueError(f"multi_ref must be 'max' or 'first', got {multi_ref!r}")
        self.lang = lang
        self.use_stemmer = use_stemmer
        self.zh_tokens = zh_tokens
        self.multi_ref = multi_ref
        self.tokenizer: Tokenizer = make_tokenizer(
            lang, use_stemmer=use_stemmer, zh_tokens=zh_tokens
        )
        self._vocab: dict[str, int] = {}
        self._memo: dict[str, tuple[int, ...]] = {}

    def tokens(self, text: str) -> tuple[int, ...]:
        """Token ids of ``text`` (tokenised once per distinct text; ids are per scorer)."""
        ids = self._memo.get(text)
        if ids is None:
            if not isinstance(text, str):
                raise TypeError(f"expected a str, got {type(text).__name__}")
            vocab = self._vocab
            ids = tuple(
                [vocab.setdefault(tok, len(vocab)) for tok in self.tokenizer.tokenize(text)]
            )
            self._memo[text] = ids
        return ids

    def clear_cache(self) -> None:
        """Forget memoised tokenisations (to bound memory on very large runs)."""
        self._vocab.clear()
        self._memo.clear()

    def _refs(self, references: str | Sequence[str]) -> Sequence[str]:
        if isinstance(references, str):
            return (references,)
        if not references:
            raise ValueError("no references to score against")
        return references if self.multi_ref == "max" else references[:1]

    def score_detail(self, prediction: str, references: str | Sequence[str]) -> Score:
        """Precision, recall and F1 against the chosen reference (as rouge-score reports it)."""
        pred = self.tokens(prediction)
        best: Score | None = None
        for ref_text in self._refs(references):
            ref = self.tokens(ref_text)
            if not pred or not ref:
                current = _ZERO
            else:
                lcs = LCSseq.similarity(ref, pred)
                precision = lcs / len(pred)
                recall = lcs / len(ref)
                current = Score(precision, recall, _f1(lcs, len(pred), len(ref)))
            if best is None or current.fmeasure > best.fmeasure:
                best = current
        assert best is not None
        return best

    def score(self, prediction: str, references: str | Sequence[str]) -> float:
        """Rouge-L F1 of ``prediction`` against one reference or several."""
        pred = self.tokens(prediction)
        n_pred = len(pred)
        best = 0.0
        similarity = LCSseq.similarity
        for ref_text in self._refs(references):
            ref = self.tokens(ref_text)
            if n_pred and ref:
                f1 = _f1(similarity(ref, pred), n_pred, len(ref))
                if f1 > best:
                    best = f1
        return best

    def score_many(
        self, predictions: Sequence[str], references: Sequence[str | Sequence[str]]
    ) -> list[float]:
        """``[score(p, refs) for p, refs in zip(predictions, references)]``, lengths checked."""
        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} reference lists"
            )
        score = self.score
        return [score(p, refs) for p, refs in zip(predictions, references, strict=True)]
