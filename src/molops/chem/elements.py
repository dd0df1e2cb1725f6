"""The elements a training-set molecule may contain by default (``[ingest] allowed_elements``).

Its own module, without pydantic, so worker processes that standardise molecules import only
RDKit and the chemistry layer."""

from __future__ import annotations

DEFAULT_ELEMENTS = ["H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"]
