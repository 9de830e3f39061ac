"""The LLM engine: a batch of chat requests in, replies out, every call cached."""

from rolellm.engine.types import ChatRequest, ChatResult, Reply, SamplingParams

__all__ = ["ChatRequest", "ChatResult", "Reply", "SamplingParams"]
