"""Generation tasks (what to ask the LLM, how to read its replies) and their one runner."""
