"""rolellm: RoleLLM end to end (profiles, RoleBench, quality gate, RoCIT, evaluation, release)."""

__version__ = "0.1.0"
