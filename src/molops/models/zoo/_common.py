"""Input checks and ensemble helpers shared by the zoo's models.

Every model checks its inputs the same way, so a user gets the same one-sentence error whichever
model they picked: X must be a finite 2-D numeric matrix, y a finite 1-D vector of the same
length, and X at predict time must have as many columns as at fit time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from molops.models.base import InvalidModelError


def as_matrix(model: str, X: Any, *, dtype: type = np.float32, n_features: int | None = None) -> np.ndarray:
    """*X* as a C-contiguous 2-D array of *dtype*, checked for shape and finite values."""
    try:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise TypeError
        arr = np.ascontiguousarray(arr, dtype=dtype)
    except (TypeError, ValueError):
        msg = f"model {model!r}: X must be a numeric matrix, got {type(X).__name__}"
        raise InvalidModelError(msg) from None
    if arr.ndim != 2:
        msg = f"model {model!r}: X must be 2-D (molecules × features); got shape {arr.shape}"
        raise InvalidModelError(msg)
    if arr.shape[0] == 0:
        raise InvalidModelError(f"model {model!r}: X has no rows")
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidModelError(
            f"model {model!r} was fitted on {n_features} features but X has {arr.shape[1]} columns"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise InvalidModelError(
            f"model {model!r}: X has NaN or infinite values in {bad} rows; impute or drop them first"
        )
    return arr


def as_training_set(
    model: str, X: Any, y: Any, *, dtype: type = np.float32, min_rows: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Checked (X, y) for fitting: y 1-D, finite, as long as X has rows."""
    Xa = as_matrix(model, X, dtype=dtype)
    try:
        ya = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"model {model!r}: y must be a numeric vector, got {type(y).__name__}"
        raise InvalidModelError(msg) from None
    if ya.ndim != 1:
        raise InvalidModelError(f"model {model!r}: y must be 1-D of shape (n,); got shape {ya.shape}")
    if len(ya) != len(Xa):
        raise InvalidModelError(f"model {model!r}: X has {len(Xa)} rows but y has {len(ya)} values")
    if len(ya) < min_rows:
        raise InvalidModelError(f"model {model!r} needs at least {min_rows} training rows; got {len(ya)}")
    if not np.isfinite(ya).all():
        raise InvalidModelError(
            f"model {model!r}: y has {int((~np.isfinite(ya)).sum())} NaN or infinite values; drop them first"
        )
    return Xa, ya


def member_seeds(seed: int, n: int) -> list[np.random.Generator]:
    """*n* independent generators derived from *seed* (one per ensemble member)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def draw_members(predictions: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """*n_samples* rows of (members × n) *predictions*, each member once before any repeats.

    Members are taken in a seeded random order; asking for more samples than there are members
    cycles through fresh permutations, so every member is used ⌊n_samples/m⌋ or one more times.
    """
    if n_samples < 1:
        raise InvalidModelError(f"n_samples must be at least 1; got {n_samples}")
    rng = np.random.default_rng(seed)
    m = len(predictions)
    order = np.concatenate([rng.permutation(m) for _ in range(-(-n_samples // m))])[:n_samples]
    drawn: np.ndarray = predictions[order]
    return drawn
