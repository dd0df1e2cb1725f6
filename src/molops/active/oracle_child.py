"""The child process of a ``python:module:function`` oracle: ``python oracle_child.py
module:function IN OUT`` (run as a script, so it imports pandas and the function's module only).

The function is called with a DataFrame of the chunk (columns ``id``, ``smiles``) and may return a
DataFrame with ``id`` and ``value`` columns (other columns are kept; with several objectives, a
column per target may stand for ``value``: :mod:`~molops.active.oracle_batch`), a mapping of id to value, a
sequence of (id, value) pairs, or a sequence of values in the chunk's order. Running it in a child
is what lets a campaign time it out and survive it crashing; an exception exits with code
:data:`~molops.active.oracle.RAISED`, its last stderr line naming it.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

RAISED = 3  # the same as molops.active.oracle.RAISED (not imported: the child stays light)


def as_frame(result: Any, ids: list[str]) -> pd.DataFrame:
    """The function's *result* as an (id, value[, …]) frame; a shape it cannot be is a TypeError."""
    if isinstance(result, pd.DataFrame):
        # 'value' or, with several objectives, a column per target: the campaign checks which
        if "id" not in result.columns or len(result.columns) < 2:
            raise TypeError(
                f"the returned DataFrame needs 'id' and 'value' columns; it has {list(result.columns)}"
            )
        return result
    if isinstance(result, Mapping):
        return pd.DataFrame({"id": list(result), "value": list(result.values())})
    items = list(result)
    if items and all(isinstance(i, tuple) and len(i) == 2 for i in items):
        return pd.DataFrame(items, columns=["id", "value"])
    if len(items) != len(ids):
        raise TypeError(f"the function returned {len(items)} values for {len(ids)} molecules")
    return pd.DataFrame({"id": ids, "value": items})


def main(argv: list[str]) -> int:
    target, inp, out = argv
    module, _, name = target.partition(":")
    sys.path[0] = str(Path.cwd())  # run as a script: its own folder would shadow the caller's modules
    try:
        fn = getattr(importlib.import_module(module), name)
        chunk = pd.read_csv(inp, dtype=str, keep_default_na=False)
        frame = as_frame(fn(chunk), chunk["id"].tolist())
    except BaseException as exc:  # every failure is the oracle's: reported, never raised
        traceback.print_exc()
        print(
            f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__,
            file=sys.stderr,
        )
        return RAISED
    frame.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
