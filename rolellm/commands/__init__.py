"""The verbs of `rolellm`, one module per group; rolellm.cli puts them under one command."""
