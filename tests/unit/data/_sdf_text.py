"""SDF text for the reader tests, written by RDKit (so the tests read what real files hold)."""

from __future__ import annotations

import io

from rdkit import Chem


def sdf_text(rows: list[tuple[str, dict[str, str]]]) -> str:
    """rows: (smiles, {prop: value}) → SDF text written by RDKit."""
    out = io.StringIO()
    writer = Chem.SDWriter(out)
    for smiles, props in rows:
        mol = Chem.MolFromSmiles(smiles)
        for key, value in props.items():
            mol.SetProp(key, value)
        writer.write(mol)
    writer.close()
    return out.getvalue()
