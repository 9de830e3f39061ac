"""Varlen SDPA: attention for padding-free batches at the cost of the samples, not the batch.

A padding-free batch is one row holding every sample end to end. transformers' ``sdpa``
attends over it with a block-diagonal mask, so attention costs (sum of lengths)^2 per layer
instead of the sum of squares: on CPU (and on GPUs without flash-attn) that extra quadratic
term eats most of what dropping the padding saved. ``sdpa_varlen`` runs causal SDPA once per
sample, using the sequence boundaries TRL's collator passes along (``cu_seq_lens_q``), and
falls back to plain ``sdpa`` for every other batch (padded training, generation).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "sdpa_varlen"


def _bounds(query: torch.Tensor, kwargs: dict[str, Any]) -> list[int] | None:
    cu_q, cu_k = kwargs.get("cu_seq_lens_q"), kwargs.get("cu_seq_lens_k")
    if cu_q is None or cu_k is None or query.shape[0] != 1 or not torch.equal(cu_q, cu_k):
        return None
    bounds = [int(b) for b in cu_q.tolist()]
    return bounds if bounds[0] == 0 and bounds[-1] == query.shape[2] else None


def sdpa_varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Per-sample causal SDPA on a packed row; plain SDPA (with the mask) otherwise."""
    bounds = _bounds(query, kwargs)
    if bounds is None or not getattr(module, "is_causal", True):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    parts = [
        sdpa_attention_forward(
            module,
            query[:, :, start:end],
            key[:, :, start:end],
            value[:, :, start:end],
            None,
            dropout=dropout,
            scaling=scaling,
            is_causal=True,
        )[0]
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return torch.cat(parts, dim=1), None


def register() -> str:
    """Make ``attn_implementation="sdpa_varlen"`` available to from_pretrained; idempotent."""
    AttentionInterface.register(NAME, sdpa_varlen_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
