"""Structures drawn by RDKit as inline SVG, cached: a page of proposals draws each molecule once
per process, not once per visit."""

from __future__ import annotations

import re
from functools import lru_cache

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

_HEADER = re.compile(r"<\?xml[^>]*>\s*|<!--.*?-->\s*", re.DOTALL)


@lru_cache(maxsize=8192)
def structure_svg(smiles: str, width: int = 180, height: int = 140) -> str:
    """The molecule as an SVG element (no XML header); an unparsable SMILES as an empty box.

    Only the part before any whitespace is read (CXSMILES extensions can carry label text); RDKit
    draws atoms and bonds as paths, so no text of the input reaches the page unescaped.
    """
    mol = Chem.MolFromSmiles(smiles.split()[0]) if smiles.strip() else None
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    if mol is not None:
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    svg: str = drawer.GetDrawingText()
    return _HEADER.sub("", svg).replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)
