"""The standardisation recipe as molops ran it before issue 19, with no shortcut: RDKit's default
normaliser on every molecule, element/carbon/radical checks as Python loops, InChIKey with
AuxInfo. Tests compare the optimised :class:`Standardizer` against it, result for result."""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize

from molops.chem.properties import mol_weight
from molops.chem.standardize import Rejected, Standardized, Standardizer, StructureFormat, _is_simple


class ReferenceStandardizer(Standardizer):
    """:class:`Standardizer` with the pre-issue-19 parent, checks and identity."""

    def __init__(self) -> None:
        super().__init__()
        self._plain_normalizer = rdMolStandardize.Normalizer()

    def reference_parent(self, mol: Chem.Mol, simple: bool) -> Chem.Mol:
        if not simple:
            mol = self._metal_disconnector.Disconnect(mol)
            if len(Chem.GetMolFrags(mol)) > 1:
                mol = self._fragment_chooser.choose(mol)
        mol = self._plain_normalizer.normalize(mol)
        if not simple and any(atom.GetFormalCharge() for atom in mol.GetAtoms()):
            mol = self._uncharger.uncharge(mol)
        return mol

    def reference_check(self, mol: Chem.Mol) -> Rejected | None:
        s = self.settings
        symbols = {atom.GetSymbol() for atom in mol.GetAtoms()}
        bad = sorted(symbols - s.allowed_elements)
        if bad:
            return Rejected("disallowed_element", f"contains {', '.join(bad)}")
        if s.reject_inorganic and "C" not in symbols:
            return Rejected("inorganic", "the parent molecule has no carbon atom")
        if s.reject_radicals and any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
            return Rejected("radical", "the parent has unpaired electrons")
        return self._check_size(mol)

    def standardize(self, text: str, fmt: StructureFormat = "smiles") -> Standardized | Rejected:
        mol = self.parse(text, fmt)
        if isinstance(mol, Rejected):
            return mol
        try:
            parent = self.reference_parent(mol, fmt == "smiles" and _is_simple(text))
            smiles = Chem.MolToSmiles(parent)
        except Exception as exc:
            return Rejected("unparsable_structure", f"standardisation failed: {exc}")
        rejected = self.reference_check(parent)
        if rejected is not None:
            return rejected
        weight = mol_weight(parent)
        if weight > self.settings.max_molecular_weight:
            limit = self.settings.max_molecular_weight
            return Rejected("too_large", f"molecular weight {weight:.1f} (max {limit:g})")
        try:
            inchikey = Chem.MolToInchiKey(parent)
        except Exception as exc:
            return Rejected("no_identity", f"RDKit could not compute an InChIKey: {exc}")
        if not inchikey:
            return Rejected("no_identity", "RDKit could not compute an InChIKey")
        return Standardized(smiles, inchikey, parent.GetNumHeavyAtoms(), weight)
