"""Tiny randomly initialised models for fast tests."""

from __future__ import annotations

from pathlib import Path


def save_tiny_llama(tokenizer, out: Path, seed: int = 0, **overrides) -> Path:
    """A 2-layer Llama (hidden size 32) sized to `tokenizer`, saved with it to `out`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    settings.update(overrides)
    torch.manual_seed(seed)
    LlamaForCausalLM(LlamaConfig(**settings)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
