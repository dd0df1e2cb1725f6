"""The molops exception tree.

Every error a user can cause derives from :class:`MolopsError` and carries one sentence that names
the offending input and says what was expected; the CLI prints that sentence and exits non-zero.
"""

from __future__ import annotations


class MolopsError(Exception):
    """Base class of every error molops raises on purpose."""

    #: Process exit status the CLI uses for this error.
    exit_code: int = 1


class UsageError(MolopsError):
    """An option has a bad value, or options are combined in a way that cannot work.

    Exit code 2, as click gives its own usage errors: a script can tell "you asked wrongly" (2)
    from "molops failed" (1). Raise it wherever a value the user typed is refused, not only in
    the CLI: the library's messages name the option too.
    """

    exit_code = 2


class ConfigError(MolopsError):
    """``molops.toml`` is malformed, has an unknown key or an invalid value."""

    exit_code = 2


class WorkspaceNotFoundError(MolopsError):
    """No workspace could be found from ``--workspace``, ``MOLOPS_WORKSPACE`` or the cwd."""

    exit_code = 2


class WorkspaceExistsError(MolopsError):
    """``molops init`` was pointed at a directory that already holds a workspace."""

    exit_code = 2


class InputFileError(MolopsError):
    """An input file is missing, unreadable, or not in the format it claims to be."""

    exit_code = 2


class ColumnNotFoundError(InputFileError):
    """A column named on the command line is not in the input file."""


class DuplicateColumnError(InputFileError):
    """A column (or SD property) molops reads is named more than once in the file."""


class NotEnoughDataError(MolopsError):
    """A dataset (version) has too few usable molecules for what was asked of it."""

    exit_code = 2


class DatasetNotFoundError(MolopsError):
    """The named dataset does not exist in the workspace."""

    exit_code = 2


class VersionNotFoundError(MolopsError):
    """The requested dataset version does not exist."""

    exit_code = 2


class InvalidNameError(MolopsError):
    """A dataset (or other object) name contains characters molops does not allow."""

    exit_code = 2


class UnitsMismatchError(MolopsError):
    """New measurements of a target arrive in different units from those already stored."""

    exit_code = 2


class ConcurrentWriteError(MolopsError):
    """Another process holds the dataset's write lock for longer than we are willing to wait."""

    exit_code = 3


__all__ = [
    "ColumnNotFoundError",
    "ConcurrentWriteError",
    "ConfigError",
    "DatasetNotFoundError",
    "DuplicateColumnError",
    "InputFileError",
    "InvalidNameError",
    "MolopsError",
    "NotEnoughDataError",
    "UnitsMismatchError",
    "UsageError",
    "VersionNotFoundError",
    "WorkspaceExistsError",
    "WorkspaceNotFoundError",
]
