"""RDKit's molecular property functions, typed.

RDKit defines ``Descriptors.MolWt``, ``Crippen.MolLogP``, ``Lipinski.NumHDonors`` and others as
lambdas, which its generated stubs leave out; taking them from RDKit's own descriptor table gives
the very same functions with a type the checker can follow.
"""

from __future__ import annotations

from collections.abc import Callable

from rdkit import Chem
from rdkit.Chem import Descriptors

#: A descriptor: one sanitised molecule → a number.
MolProperty = Callable[[Chem.Mol], float]

#: Every RDKit 2D descriptor by name, in RDKit's order (``Descriptors._descList``).
RDKIT_DESCRIPTORS: dict[str, MolProperty] = dict(Descriptors._descList)

mol_weight: MolProperty = RDKIT_DESCRIPTORS["MolWt"]
logp: MolProperty = RDKIT_DESCRIPTORS["MolLogP"]
h_bond_donors: MolProperty = RDKIT_DESCRIPTORS["NumHDonors"]
h_bond_acceptors: MolProperty = RDKIT_DESCRIPTORS["NumHAcceptors"]
