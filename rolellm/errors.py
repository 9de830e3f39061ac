"""Errors that the CLI turns into one line on stderr and a non-zero exit code."""


class RolellmError(Exception):
    """A problem the user can fix; the message is one line naming the file or field."""

    exit_code = 1


class ConfigError(RolellmError):
    """Bad params.yaml content or bad command-line settings."""

    exit_code = 2


class InputError(RolellmError):
    """Bad input data: a script, an instruction file, a role name, a model path."""

    exit_code = 1
