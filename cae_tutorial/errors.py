"""The package's own errors: one base class, so a caller (and the CLI) can tell a user's mistake from a bug.

Every error the package raises on purpose, with a message that names the file, option or argument and the fix,
is a CaeTutorialError. Each also keeps the builtin base it always had (DataError is still a ValueError,
MetricNameError a KeyError ...), so ``except ValueError`` in older code still catches it. The CLI prints these
(and an OSError on the user's files) as one line with exit status 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class CaeTutorialError(Exception):
    """Base class of the package's own errors; the message says what was wrong and the fix."""

    def __str__(self) -> str:
        # KeyError would print its message in quotes; the package's messages are sentences.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class UsageError(CaeTutorialError, ValueError):
    """A bad option or argument (on the command line or to a function); the message names it and the fix."""
