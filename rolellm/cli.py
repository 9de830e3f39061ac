"""The `rolellm` command: one thin verb per pipeline stage, plus tools for users.

Verbs read params.yaml once (typed, validated), call a stage function with explicit input and
output paths, and turn a RolellmError into one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import os
import sys

import typer

from rolellm.commands import generate, model, publish, rolebench
from rolellm.errors import RolellmError

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="RoleLLM end to end: profiles, RoleBench, quality gate, RoCIT, evaluation, release.",
)
for group in (generate, rolebench, model, publish):
    app.add_typer(group.app)


def main() -> None:
    try:
        app(standalone_mode=False)
    except RolellmError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
