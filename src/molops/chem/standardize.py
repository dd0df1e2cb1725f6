"""Standardise a structure to its parent molecule and compute its identity (InChIKey).

The pipeline is the usual curation recipe: parse and sanitise, keep the largest organic fragment
(strips salts and solvents), normalise functional groups, neutralise, then check the result is
something a chemist would put in a training set. Identity is the InChIKey of the standardised
parent, so a salt and its free base, or two SMILES spellings, are the same molecule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors, rdqueries
from rdkit.Chem.MolStandardize import rdMolStandardize

from molops.chem.elements import DEFAULT_ELEMENTS
from molops.chem.normalize import GatedNormalizer, has_charge

# RDKit reports parse problems on stderr; molops reports them per row instead.
rdBase.DisableLog("rdApp.*")

StructureFormat = Literal["smiles", "molblock"]

#: Elements SMILES may write without brackets; any other element, charge or radical needs them.
_ORGANIC_SUBSET = frozenset({"B", "C", "N", "O", "P", "S", "F", "Cl", "Br", "I"})
_HAS_CARBON = re.compile(r"C(?!l)|c")
_BRACKET_ELEMENT = re.compile(r"\[\d*([A-Z][a-z]?|[a-z]+)")
_NONMETALS = _ORGANIC_SUBSET | {"H", "Si", "Se", "se", "c", "n", "o", "s", "p", "b", "te", "Te", "As", "as"}
_CARBON = Chem.MolFromSmarts("[#6]")
_RADICAL = rdqueries.NumRadicalElectronsGreaterQueryAtom(0)
#: InChI options: no AuxInfo (atom numbering, never part of the identifier or its key), which the
#: key does not need and which costs InChI about 6% of its time.
_INCHI_OPTIONS = "/AuxNone"
#: Bumped whenever a rule here changes what a structure standardises to, so results remembered
#: under the old rules (the workspace's identity cache) are no longer used. 3: a CXSMILES is read
#: (it was refused for its space). 4: a SMILES keeps its double bonds' E/Z in its InChIKey (cis and
#: trans had one key), as does a CXSMILES's ``c:``/``t:`` marks, and a mol block's key comes from
#: its parent's stereo, not its coordinates.
STANDARDIZER_VERSION = 4
#: Canonical parent SMILES whose InChIKey one standardiser remembers (see :meth:`Standardizer.inchikey`).
REMEMBERED_KEYS = 65_536
#: A hydrogen atom written as an atom of its own (``[H]``, ``[2H]``, ``[H+]``, ``[H:1]``), not a count on a
#: heavy atom (``[CH3]``) and not He, Hg, Hf, Ho or Hs.
_EXPLICIT_H = re.compile(r"\[\d*H[^a-z]")
#: What gives a SMILES stereo: a tetrahedral centre (@), a double bond's side (/ and \), or a
#: CXSMILES extension (its stereo groups, cis/trans marks, wedges).
_STEREO_MARKS = re.compile(r"[@/\\|]")
#: Any whitespace (str.isspace), which cannot be part of one SMILES.
_WHITESPACE = re.compile(r"\s")
#: A CXSMILES (ChemAxon's extended SMILES, as Marvin and vendors export it): one SMILES, spaces or
#: tabs, one ``|...|`` extension, nothing after it. ChemAxon escapes a ``|`` inside the extension
#: (``&#124;``), so the first one after the opening bar closes it.
_CXSMILES = re.compile(r"(\S+)[ \t]+(\|[^|\r\n]*\|)")
#: A SMILES list line (``C1CC1 |$R;;$| name``): the structure, a CXSMILES extension if one follows
#: it, then the name, if any, after whitespace.
_SMI_LINE = re.compile(_CXSMILES.pattern + r"(?:\s+(.*))?", re.DOTALL)
#: RDKit's reader for a CXSMILES: the extension must parse (strict), and parsing stops at its end
#: (the pattern above leaves no name after it). It sanitises, because only RDKit's sanitising reader
#: applies the extension's cis/trans marks (``c:``/``t:``); the unsanitised one explains a failure.
_CX_PARAMS, _CX_UNSANITIZED = Chem.SmilesParserParams(), Chem.SmilesParserParams()
_CX_OPTIONS = {"allowCXSMILES": True, "strictCXSMILES": True, "parseName": False, "removeHs": False}
for _params, _sanitize in ((_CX_PARAMS, True), (_CX_UNSANITIZED, False)):
    for _option, _value in {**_CX_OPTIONS, "sanitize": _sanitize}.items():  # the stubs type these wrongly
        setattr(_params, _option, _value)

#: Rejection reasons the chemistry layer can give, with what each means.
REASONS: dict[str, str] = {
    "empty_structure": "the structure field is empty",
    "unparsable_structure": (
        "RDKit cannot parse or sanitise the structure or its CXSMILES extension, "
        "or a SMILES has inner whitespace"
    ),
    "inorganic": "the parent molecule has no carbon atom",
    "disallowed_element": "the parent contains an element outside ingest.allowed_elements",
    "radical": "the parent has unpaired electrons",
    "too_large": "the parent exceeds ingest.max_heavy_atoms or ingest.max_molecular_weight",
    "too_small": "the parent has fewer than ingest.min_heavy_atoms heavy atoms",
    "no_identity": "no InChIKey can be computed for the parent",
}


def split_smi_line(text: str) -> tuple[str, str | None]:
    """A stripped SMILES list line's structure and name. A CXSMILES extension after the SMILES belongs
    to the structure, as RDKit's SMILES reader takes it; the name is whatever follows."""
    if (cx := _SMI_LINE.fullmatch(text)) is not None:
        return f"{cx[1]} {cx[2]}", cx[3] or None
    token, *rest = text.split(None, 1)
    return token, rest[0] if rest else None


@dataclass(frozen=True, slots=True)
class StandardizerSettings:
    """What the standardiser accepts; built from ``[ingest]`` in molops.toml."""

    max_heavy_atoms: int = 100
    min_heavy_atoms: int = 1
    max_molecular_weight: float = 1500.0
    allowed_elements: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_ELEMENTS))
    reject_radicals: bool = True
    reject_inorganic: bool = True


@dataclass(frozen=True, slots=True)
class Standardized:
    """A standardised parent molecule."""

    smiles: str
    inchikey: str
    heavy_atoms: int
    molecular_weight: float


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a structure was refused: a reason code from :data:`REASONS` and a human detail."""

    reason: str
    detail: str


class Standardizer:
    """Turns raw structures into :class:`Standardized` parents or :class:`Rejected` verdicts.

    Instances are cheap to build and hold RDKit helper objects that are reused across calls.
    """

    def __init__(self, settings: StandardizerSettings | None = None) -> None:
        self.settings = settings or StandardizerSettings()
        self._fragment_chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        self._normalizer = GatedNormalizer()
        self._uncharger = rdMolStandardize.Uncharger(canonicalOrder=True)
        self._metal_disconnector = rdMolStandardize.MetalDisconnector()
        self._disallowed = _outside(self.settings.allowed_elements)
        self._organic_allowed = self.settings.allowed_elements >= _ORGANIC_SUBSET
        self._keys: dict[str, str] = {}  # canonical parent SMILES → InChIKey

    def parse(self, text: str, fmt: StructureFormat = "smiles") -> Chem.Mol | Rejected:
        """Parse and sanitise, keeping RDKit's own explanation when that fails.

        A SMILES is stripped of leading and trailing whitespace; whitespace inside it is refused,
        because RDKit reads only up to the first space (the rest is the molecule's name), so
        ``"CCO\\nCCN"`` would silently be ethanol. The one exception is a CXSMILES
        (``C1CC1 |$R;;$|``): the extension after the space is read by RDKit (stereo groups, atom
        labels; coordinates are dropped), and one it cannot read is refused rather than ignored. Every path
        that reads a SMILES (ingest, pools, serving, batch and pyfunc prediction) parses it here and
        inherits the rule.

        Stereo (tetrahedral and double-bond E/Z) is perceived as RDKit's own readers do, so a SMILES
        and the mol block of one molecule reach the same parent SMILES and InChIKey; a mol block's
        coordinates are dropped once its stereo is read from them.
        """
        if not text or not text.strip():
            return Rejected("empty_structure", "the structure field is empty")
        if fmt == "smiles":
            text = text.strip()
            if not _WHITESPACE.search(text):
                mol = Chem.MolFromSmiles(text, sanitize=False)
            elif (cx := _CXSMILES.fullmatch(text)) is None:
                return Rejected("unparsable_structure", _whitespace_detail(text))
            elif (mol := Chem.MolFromSmiles(text, _CX_PARAMS)) is None:
                return Rejected("unparsable_structure", _cxsmiles_detail(text, cx[1], cx[2]))
            else:
                # coordinates are a drawing's layout: RDKit has read the stereo the extension marks
                # on them, and InChI would read them again (the same SMILES got another key)
                mol.RemoveAllConformers()
        else:
            mol = Chem.MolFromMolBlock(text, sanitize=False, removeHs=False)
        if mol is None:
            what = "SMILES" if fmt == "smiles" else "mol block"
            return Rejected("unparsable_structure", f"not a valid {what}")
        if mol.GetNumAtoms() == 0:
            return Rejected("empty_structure", "the structure has no atoms")
        try:
            Chem.SanitizeMol(mol)
            # hydrogens drawn as atoms become counts, or "[H]OC([H])([H])C" would keep them in its
            # parent SMILES: the same InChIKey as "CCO" but other features (isotopes stay atoms)
            if fmt == "molblock" or _EXPLICIT_H.search(text):
                mol = Chem.RemoveHs(mol)
            # what RDKit's parsers do after sanitising: without it a SMILES's double bonds keep
            # their / and \ marks but no E/Z, which InChI reads (cis and trans got one key); a
            # SMILES without stereo marks has none to perceive, so the call is skipped
            if fmt == "molblock" or _STEREO_MARKS.search(text):
                Chem.AssignStereochemistry(mol, cleanIt=True, force=True, flagPossibleStereoCenters=True)
        except Exception as exc:  # RDKit raises several unrelated exception types here
            return Rejected("unparsable_structure", f"sanitisation failed: {exc}")
        if fmt == "molblock":
            # the drawing's stereo (wedges, 2D or 3D geometry) is now in the atoms and bonds; InChI
            # would read the coordinates again and can see more (a ring double bond's geometry),
            # giving a mol block another key than the SMILES of the same parent
            mol.RemoveAllConformers()
        return mol

    def parent(self, mol: Chem.Mol, simple: bool = False) -> Chem.Mol:
        """Largest organic fragment, normalised and neutralised.

        *simple* promises one fragment without charges or metals (see :func:`_is_simple`), which
        lets the metal, fragment and charge steps be skipped; normalisation runs whenever one of
        its rules can match (:class:`GatedNormalizer`). Metals are disconnected first, so a
        covalently drawn salt (``CC(=O)O[Na]``) loses its counterion.
        """
        if not simple:
            mol = self._metal_disconnector.Disconnect(mol)
            if len(Chem.GetMolFrags(mol)) > 1:
                mol = self._fragment_chooser.choose(mol)
        mol = self._normalizer.normalize(mol)
        if not simple and has_charge(mol):
            mol = self._uncharger.uncharge(mol)
        return mol

    def check(self, mol: Chem.Mol, smiles: str | None = None) -> Rejected | None:
        """Return why the parent is unfit for a training set, or None when it is fine.

        Given the parent's canonical *smiles* without brackets or ``*``, the element, carbon and
        radical checks are answered from the text: such a SMILES holds only organic-subset atoms,
        uncharged and without unpaired electrons. Otherwise each check is one C++ query over the atoms; the
        element list is only spelled out for a molecule that has a disallowed element.
        """
        s = self.settings
        if (
            smiles is not None
            and "[" not in smiles
            and "*" not in smiles  # a dummy atom needs no brackets either
            and self._organic_allowed
        ):
            if s.reject_inorganic and not _HAS_CARBON.search(smiles):
                return Rejected("inorganic", "the parent molecule has no carbon atom")
            return self._check_size(mol)
        if self._disallowed is None or mol.HasSubstructMatch(self._disallowed):
            symbols = {atom.GetSymbol() for atom in mol.GetAtoms()}
            bad = sorted(symbols - s.allowed_elements)
            if bad:
                return Rejected("disallowed_element", f"contains {', '.join(bad)}")
        if s.reject_inorganic and not mol.HasSubstructMatch(_CARBON):
            return Rejected("inorganic", "the parent molecule has no carbon atom")
        if s.reject_radicals and mol.GetAtomsMatchingQuery(_RADICAL):
            return Rejected("radical", "the parent has unpaired electrons")
        return self._check_size(mol)

    def _check_size(self, mol: Chem.Mol) -> Rejected | None:
        s = self.settings
        heavy = mol.GetNumHeavyAtoms()
        if heavy > s.max_heavy_atoms:
            return Rejected("too_large", f"{heavy} heavy atoms (max {s.max_heavy_atoms})")
        if heavy < s.min_heavy_atoms:
            return Rejected("too_small", f"{heavy} heavy atoms (min {s.min_heavy_atoms})")
        return None

    def standardize(self, text: str, fmt: StructureFormat = "smiles") -> Standardized | Rejected:
        """The whole pipeline for one structure."""
        result = self.standardize_with_parent(text, fmt)
        return result if isinstance(result, Rejected) else result[0]

    def standardize_with_parent(
        self, text: str, fmt: StructureFormat = "smiles"
    ) -> tuple[Standardized, Chem.Mol] | Rejected:
        """:meth:`standardize`, also returning the parent molecule, so a caller that featurizes it
        need not parse the parent SMILES again."""
        mol = self.parse(text, fmt)
        if isinstance(mol, Rejected):
            return mol
        simple = fmt == "smiles" and _is_simple(text)
        try:
            parent = self.parent(mol, simple=simple)
            smiles = Chem.MolToSmiles(parent)
        except Exception as exc:  # pathological inputs can trip RDKit's standardiser
            return Rejected("unparsable_structure", f"standardisation failed: {exc}")
        rejected = self.check(parent, smiles)
        if rejected is not None:
            return rejected
        weight = _mol_weight(parent)
        if weight > self.settings.max_molecular_weight:
            limit = self.settings.max_molecular_weight
            return Rejected("too_large", f"molecular weight {weight:.1f} (max {limit:g})")
        try:
            inchikey = self.inchikey(parent, smiles)
        except Exception as exc:  # InChI kekulises again and can fail where sanitisation passed
            return Rejected("no_identity", f"RDKit could not compute an InChIKey: {exc}")
        if not inchikey:
            return Rejected("no_identity", "RDKit could not compute an InChIKey")
        return Standardized(smiles, inchikey, parent.GetNumHeavyAtoms(), weight), parent

    def inchikey(self, parent: Chem.Mol, smiles: str) -> str:
        """The InChIKey of *parent*, whose canonical SMILES is *smiles*.

        InChI is half of the standardiser's time, and two spellings of one molecule (a salt and its
        free base, another atom order) reach the same parent. Without coordinates, the parent is
        determined by its canonical SMILES (atoms, isotopes, charges, explicit hydrogens and
        stereo), so the key of a SMILES seen before is reused. A parent with coordinates (from a
        mol block) is always computed: InChI may read stereo from them.
        """
        if parent.GetNumConformers():
            return str(Chem.MolToInchiKey(parent, options=_INCHI_OPTIONS))
        key = self._keys.get(smiles)
        if key is None:
            key = str(Chem.MolToInchiKey(parent, options=_INCHI_OPTIONS))
            if key:
                if len(self._keys) >= REMEMBERED_KEYS:
                    self._keys.clear()  # bounded; a cleared memo only costs recomputation
                self._keys[smiles] = key
        return key


def _mol_weight(mol: Chem.Mol) -> float:
    """``Descriptors.MolWt`` (the function it wraps), without importing rdkit.Chem.Descriptors,
    which loads every descriptor module and doubles a worker process's start-up time."""
    return float(rdMolDescriptors._CalcMolWt(mol))


def _outside(allowed: frozenset[str]) -> Chem.Mol | None:
    """A query matching any atom whose element is not in *allowed* (None: a symbol RDKit does not
    know is allowed, so the check falls back to comparing symbols)."""
    table = Chem.GetPeriodicTable()
    known = {table.GetElementSymbol(n): n for n in range(1, 119)}
    if not allowed <= known.keys():
        return None
    numbers = sorted(known[symbol] for symbol in allowed)
    if not numbers:
        return Chem.MolFromSmarts("*")
    return Chem.MolFromSmarts("[" + "&".join(f"!#{n}" for n in numbers) + "]")


def _is_simple(smiles: str) -> bool:
    """True when the SMILES text alone shows one fragment, no charge and no metal atom."""
    if any(c in smiles for c in ".+-|"):  # a CXSMILES extension is not judged from its text
        return False
    return "[" not in smiles or all(m in _NONMETALS for m in _BRACKET_ELEMENT.findall(smiles))


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _whitespace_detail(smiles: str) -> str:
    """Why a SMILES with whitespace inside it is refused, naming the (shortened) input."""
    return (
        f"the SMILES {_shorten(smiles)!r} contains whitespace; expected one SMILES without spaces "
        "or line breaks (or a CXSMILES: a SMILES, a space and one |...| extension)"
    )


def _cxsmiles_detail(text: str, smiles: str, extension: str) -> str:
    """Why a CXSMILES was refused: its SMILES, its extension, which RDKit cannot read, or else the
    molecule, which cannot be sanitised."""
    if Chem.MolFromSmiles(smiles, sanitize=False) is None:
        return "not a valid SMILES"
    if (mol := Chem.MolFromSmiles(text, _CX_UNSANITIZED)) is None:
        return (
            f"RDKit cannot read the CXSMILES extension {_shorten(extension)!r} of {_shorten(smiles)!r}; "
            "expected ChemAxon's |...| fields (atom labels $...$, stereo groups &1:..., coordinates (...))"
        )
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several unrelated exception types here
        return f"sanitisation failed: {exc}"
    # not seen in the tests: the sanitising reader failed where each of its steps alone passes
    return f"RDKit cannot apply the CXSMILES extension {_shorten(extension)!r} to {_shorten(smiles)!r}"
