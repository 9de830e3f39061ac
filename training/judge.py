"""LLM judge: a system's answer against the RoleGPT baseline, pairwise, both orders.

Any OpenAI-compatible chat model judges (the engine's ``openai`` backend, with its own cache
stage). Each item is asked twice: once with the system's answer in position A and the
baseline in B, once swapped, so a judge that favours a position cancels out. The judge
replies with JSON ``{"reason": str, "winner": "A" | "B" | "tie"}`` (``Verdict``), parsed and
retried by the engine.

Scoring: each comparison gives the system 1 (win), 0.5 (tie) or 0 (loss); an item's score is
the mean of its two comparisons, and items where either comparison has no valid verdict are
left out (counted as ``invalid``). The win rate is (wins + 0.5 ties) / comparisons, i.e. the
mean item score; its 95% confidence interval is a percentile bootstrap over items (seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from rolellm.engine.config import OpenAIBackendConfig
from rolellm.engine.types import ChatRequest, ChatResult
from rolellm.sections import NonNegInt, PositiveInt, Sampling, Section

if TYPE_CHECKING:
    from rolellm.engine.engine import Engine

A_TAG, A_END = "[Answer A]", "[End of Answer A]"
B_TAG, B_END = "[Answer B]", "[End of Answer B]"

JUDGE_SYSTEM = (
    "You are an impartial judge of role-playing. Two assistants were asked to play a "
    "character and answer a question in character. Decide which answer is better: it stays "
    "in character (the character's personality, knowledge and speaking style), never "
    "reveals being an AI, and answers the question accurately and helpfully. The order of "
    "the answers and their length must not influence you. If they are equally good, say "
    'tie. Reply with JSON only: {"reason": "<one or two sentences>", "winner": "A" | "B" | '
    '"tie"}.'
)
JUDGE_USER = (
    "Character: {name}\nCharacter description: {description}\n\nQuestion:\n{question}\n\n"
    f"{A_TAG}\n{{answer_a}}\n{A_END}\n\n{B_TAG}\n{{answer_b}}\n{B_END}"
)

__all__ = [
    "JudgeConfig",
    "JudgeItem",
    "JudgeResult",
    "Verdict",
    "bootstrap_ci",
    "judge_items",
    "judge_requests",
]


class JudgeConfig(Section):
    """The optional pairwise LLM judge (``evaluate.judge``); off by default."""

    enabled: bool = False
    openai: OpenAIBackendConfig = OpenAIBackendConfig()
    json_retries: Annotated[int, Field(ge=0, le=20)] = 3
    cache_stage: str = "evaluate_judge"
    systems: tuple[str, ...] | None = None  # None: every generated system
    max_items: PositiveInt | None = 200  # per setting and system (a seeded sample)
    max_new_tokens: PositiveInt = 256
    bootstrap_samples: PositiveInt = 1000
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    seed: NonNegInt = 0


class Verdict(BaseModel):
    reason: Annotated[str, Field(json_schema_extra={"maxLength": 400})] = ""  # schema bound only
    winner: Literal["A", "B", "tie"]

    @field_validator("winner", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().strip(".").strip()
            return "tie" if text.lower() == "tie" else text.upper()
        return value


@dataclass(frozen=True)
class JudgeItem:
    """One question: the character, the system's answer and the baseline's."""

    name: str
    description: str
    question: str
    answer: str
    baseline: str


def _request(item: JudgeItem, first: str, second: str, cfg: JudgeConfig) -> ChatRequest:
    user = JUDGE_USER.format(
        name=item.name,
        description=item.description or "(none)",
        question=item.question.strip(),
        answer_a=first.strip(),
        answer_b=second.strip(),
    )
    messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
    sampling = Sampling(temperature=0.0, max_new_tokens=cfg.max_new_tokens)
    return ChatRequest.of(messages, sampling=sampling, seed=cfg.seed, reply_model=Verdict)


def judge_requests(item: JudgeItem, cfg: JudgeConfig) -> tuple[ChatRequest, ChatRequest]:
    """(system's answer in A, baseline in B), then the swapped order."""
    return (
        _request(item, item.answer, item.baseline, cfg),
        _request(item, item.baseline, item.answer, cfg),
    )


def _outcome(result: ChatResult, system_position: str) -> float | None:
    """The system's score in one comparison: 1 win, 0.5 tie, 0 loss; None when invalid."""
    if not result.ok or not result.replies or result.replies[0].parsed is None:
        return None
    verdict = result.replies[0].parsed
    assert isinstance(verdict, Verdict)
    if verdict.winner == "tie":
        return 0.5
    return 1.0 if verdict.winner == system_position else 0.0


@dataclass(frozen=True)
class JudgeResult:
    """Win rate of a system against the baseline over the items with two valid verdicts."""

    item_scores: tuple[float, ...]
    wins: int
    ties: int
    losses: int
    invalid: int  # items left out: at least one order had no valid verdict
    prefers_a: float | None  # share of decisive verdicts that chose position A
    consistent: float | None  # share of items whose two verdicts agree after the swap
    win_rate: float | None
    ci: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        low, high = self.ci if self.ci else (None, None)
        return {
            "win_rate": self.win_rate,
            "ci_low": low,
            "ci_high": high,
            "n": len(self.item_scores),
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "invalid": self.invalid,
            "prefers_a": self.prefers_a,
            "consistent": self.consistent,
        }


def bootstrap_ci(
    scores: Sequence[float], samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling items with replacement)."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise ValueError("no scores to bootstrap")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // values.size)  # bounded memory on large item sets
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _tally(pairs: Sequence[tuple[float | None, float | None]], cfg: JudgeConfig) -> JudgeResult:
    valid = [(a, b) for a, b in pairs if a is not None and b is not None]
    outcomes = [o for pair in valid for o in pair]
    # first order: the system is in A, so a win means A was chosen; swapped: a loss means A.
    decisive_a = sum(a == 1.0 for a, _ in valid) + sum(b == 0.0 for _, b in valid)
    decisive = sum(o != 0.5 for o in outcomes)
    scores = tuple((a + b) / 2 for a, b in valid)
    rate = float(np.mean(scores)) if scores else None
    ci = bootstrap_ci(scores, cfg.bootstrap_samples, cfg.confidence, cfg.seed) if scores else None
    return JudgeResult(
        item_scores=scores,
        wins=sum(o == 1.0 for o in outcomes),
        ties=sum(o == 0.5 for o in outcomes),
        losses=sum(o == 0.0 for o in outcomes),
        invalid=len(pairs) - len(valid),
        prefers_a=decisive_a / decisive if decisive else None,
        consistent=sum(a == b for a, b in valid) / len(valid) if valid else None,
        win_rate=rate,
        ci=ci,
    )


def judge_items(items: Sequence[JudgeItem], engine: Engine, cfg: JudgeConfig) -> JudgeResult:
    """Ask the judge both orders of every item (one batch) and combine the verdicts."""
    requests = [req for item in items for req in judge_requests(item, cfg)]
    results = engine.generate(requests)
    pairs = [
        (_outcome(results[2 * i], "A"), _outcome(results[2 * i + 1], "B"))
        for i in range(len(items))
    ]
    return _tally(pairs, cfg)


def sample_items(items: Sequence[JudgeItem], limit: int | None, seed: int) -> list[JudgeItem]:
    """All items, or a seeded sample of ``limit`` of them (in their original order)."""
    if limit is None or len(items) <= limit:
        return list(items)
    keep = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
    return [items[i] for i in sorted(keep.tolist())]
