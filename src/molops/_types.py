"""Type aliases shared across the package."""

from __future__ import annotations

from os import PathLike
from typing import TypeAlias

#: Anything that names a file on disk.
StrPath: TypeAlias = str | PathLike[str]
#: A JSON-serialisable object, as printed by ``--json``.
JSONDict: TypeAlias = dict[str, object]
