"""The error every stage raises for bad input or a failed dependency.

Its message is one line naming what was wrong (file and line, field, model, task id...); the
CLI prints it as `error: <message>` and exits with status 2, with no traceback.
"""


class SimgapError(Exception):
    """Base of all user-facing errors."""


class ConfigError(SimgapError):
    """A config file, flag or registry name that does not make sense."""
