"""Settings of the `context-instruct` stage (the `context_instruct:` section)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rolellm.sections import Sampling, Section


class ContextInstructConfig(Section):
    """Settings of the `context-instruct` stage.

    segment_exchanges: profile exchanges per script-based segment.
    max_segments: script-based segments per role (spread evenly over the profile).
    questions_per_segment: questions asked for in each request (both kinds).
    agnostic_samples: samples of the script-agnostic request per role.
    min_confidence: drop items whose confidence (0-1 after dividing the 0-10 rating) is lower.
    near_duplicate: drop a question whose rapidfuzz ratio (0-100, normalised text) with a
        kept question of the same role is at least this.
    min_question_chars / min_answer_chars: drop shorter (or empty) items.
    max_line_chars: each profile line shown is cut to this many characters.
    worked_example: start each request with a worked example exchange (EXAMPLE_ITEMS).
    """

    segment_exchanges: Annotated[int, Field(ge=1, le=50)] = 4
    max_segments: Annotated[int, Field(ge=0, le=10000)] = 10
    questions_per_segment: Annotated[int, Field(ge=1, le=20)] = 3
    agnostic_samples: Annotated[int, Field(ge=0, le=50)] = 3
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7
    near_duplicate: Annotated[float, Field(gt=0.0, le=100.0)] = 90.0
    min_question_chars: Annotated[int, Field(ge=1)] = 8
    min_answer_chars: Annotated[int, Field(ge=1)] = 2
    max_line_chars: Annotated[int, Field(ge=20)] = 200
    sampling: Sampling = Sampling(temperature=0.7, max_new_tokens=384)
    seed: Annotated[int, Field(ge=0)] = 0
    worked_example: bool = True
