"""The LLM engine: a batch of chat requests in, replies out, every call cached."""

from rolellm.engine.types import ChatRequest, ChatResult, Reply

__all__ = ["ChatRequest", "ChatResult", "Reply"]
