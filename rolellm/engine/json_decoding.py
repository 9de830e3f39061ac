"""Schema-constrained JSON decoding for the local backend (llguidance).

A request with a reply model is decoded under its JSON schema: at every step the tokens that
cannot continue a valid reply are masked out before sampling, so a 135M model that writes
broken JSON on its own (0 of 10 valid personas unconstrained, measured) cannot. The reply is
still validated by the engine; it can only fail when it is cut off by max_new_tokens.

llguidance was chosen by measurement (benchmarks.structured, docs in README): one 3 MB
dependency-free wheel, a grammar in milliseconds, about 2% of a decode step on CPU; xgrammar
is as fast but pulls triton (286 MB) with it, outlines took seconds to minutes per schema,
lm-format-enforcer does not import under transformers 5. Imported only when a model loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import llguidance
import llguidance.hf
import llguidance.numpy as llnp
import torch
from transformers import LogitsProcessor

# Compact separators: with flexible whitespace a small model spends its tokens on newlines.
_DEFAULTS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class JsonGrammars:
    """The tokenizer as llguidance sees it (built once per model) and one compiled grammar per
    schema."""

    def __init__(self, tokenizer, vocab_size: int, eos_ids: Sequence[int]):
        self.tokenizer = llguidance.hf.from_tokenizer(
            tokenizer, n_vocab=vocab_size, eos_token=list(eos_ids)
        )
        self._grammars: dict[str, str] = {}

    def grammar(self, schema: dict) -> str:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            closed = closed_objects(schema)  # keys in the schema's order: question, answer
            grammar = llguidance.LLMatcher.grammar_from_json_schema(closed, defaults=_DEFAULTS)
            problem = llguidance.LLMatcher.validate_grammar(grammar, self.tokenizer)
            if problem:
                raise ValueError(f"JSON schema cannot be compiled: {problem}")
            self._grammars[key] = grammar
        return self._grammars[key]

    def constraint(self, schemas: Sequence[dict | None]) -> JsonConstraint | None:
        """A logits processor for one batch (None: no row asks for JSON)."""
        if not any(schemas):
            return None
        matchers = [
            llguidance.LLMatcher(self.tokenizer, self.grammar(s), log_level=0) if s else None
            for s in schemas
        ]
        return JsonConstraint(matchers)


def closed_objects(schema: object) -> object:
    """The schema with `additionalProperties: false` on every object that does not say: JSON
    Schema allows extra keys by default, and a small model given that freedom writes them
    (one persona reply spent its tokens on an invented third key)."""
    if isinstance(schema, list):
        return [closed_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed_objects(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class JsonConstraint(LogitsProcessor):
    """Masks, per row, every token its grammar does not allow next; rows without a grammar are
    left free. Runs before the sampler, once per `generate` call."""

    def __init__(self, matchers: Sequence[llguidance.LLMatcher | None]):
        self.matchers = list(matchers)
        self.rows = [i for i, m in enumerate(self.matchers) if m is not None]
        self.started = False
        self.mask = None
        self.shift = torch.arange(32, dtype=torch.int32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.mask is None:
            self.mask = llnp.allocate_token_bitmask(len(self.matchers), scores.shape[-1])
        for row in self.rows:
            matcher = self.matchers[row]
            if self.started and not matcher.is_stopped():
                matcher.consume_token(int(input_ids[row, -1]))
            if matcher.is_error():
                raise RuntimeError(f"JSON grammar rejected a token: {matcher.get_error()}")
            llnp.fill_next_token_bitmask(matcher, self.mask, row)
        self.started = True
        bits = (torch.from_numpy(self.mask[self.rows]).unsqueeze(-1) >> self.shift) & 1
        allowed = bits.view(len(self.rows), -1)[:, : scores.shape[-1]].bool()
        scores[self.rows] = scores[self.rows].masked_fill(~allowed.to(scores.device), -torch.inf)
        return scores
