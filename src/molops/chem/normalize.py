"""RDKit's functional-group normalisation, with a cheap gate that skips it when no rule can apply.

The normaliser runs each of its rules as a reaction over the molecule, which costs about as much
as parsing it, yet leaves most molecules unchanged. A rule can only change a molecule its
reactant pattern matches, and the normaliser returns an unchanged copy when none matches. So
molops builds the normaliser from its own copy of RDKit's default rules (the same list, so the gate
and the rules can never disagree) and asks first, in two C++ calls, whether any rule could match:

* 17 of the 22 patterns contain an atom that must carry a formal charge, so a molecule without
  charged atoms cannot match them;
* the other 5 are matched directly (each written from its most selective atom, which is the same
  pattern: a SMARTS's atom order does not change what it matches).
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import rdqueries
from rdkit.Chem.MolStandardize import rdMolStandardize

#: RDKit's default normalisations (Code/GraphMol/MolStandardize/TransformCatalog/normalizations.in,
#: RDKit 2021.03 to 2026.03), one "name<TAB>SMIRKS" per line, in RDKit's order.
RULES = """\
Nitro to N+(O-)=O\t[N,P,As,Sb;X3:1](=[O,S,Se,Te:2])=[O,S,Se,Te:3]>>[*+1:1]([*-1:2])=[*:3]
Sulfone to S(=O)(=O)\t[S+2:1]([O-:2])([O-:3])>>[S+0:1](=[O-0:2])(=[O-0:3])
Pyridine oxide to n+O-\t[nH0+0:1]=[OH0+0:2]>>[n+:1][O-:2]
Azide to N=N+=N-\t[*:1][N:2]=[N:3]#[N:4]>>[*:1][N:2]=[N+:3]=[N-:4]
Diazo/azo to =N+=N-\t[*:1]=[N:2]#[N:3]>>[*:1]=[N+:2]=[N-:3]
Sulfoxide to -S+(O-)-\t[!O:1][S+0;X3:2](=[O:3])[!O:4]>>[*:1][S+1:2]([O-:3])[*:4]
Phosphate to P(O-)=O\t[O,S,Se,Te;-1:1][P+;D4:2][O,S,Se,Te;-1:3]>>[*+0:1]=[P+0;D5:2][*-1:3]
C/S+N to C/S=N+\t[C,S&!$([S+]-[O-]);X3+1:1]([NX3:2])[NX3!H0:3]>>[*+0:1]([N:2])=[N+:3]
P+N to P=N+\t[P;X4+1:1]([NX3:2])[NX3!H0:3]>>[*+0:1]([N:2])=[N+:3]
Normalize hydrazine-diazonium\t[CX4:1][NX3H:2]-[NX3H:3][CX4:4][NX2+:5]#[NX1:6]>>\
[CX4:1][NH0:2]=[NH+:3][C:4][N+0:5]=[NH:6]
Recombine 1,3-separated charges\t[N,P,As,Sb,O,S,Se,Te;-1:1]-[A+0:2]=[N,P,As,Sb,O,S,Se,Te;+1:3]>>\
[*-0:1]=[*:2]-[*+0:3]
Recombine 1,3-separated charges\t[n,o,p,s;-1:1]:[a:2]=[N,O,P,S;+1:3]>>[*-0:1]:[*:2]-[*+0:3]
Recombine 1,3-separated charges\t[N,O,P,S;-1:1]-[a+0:2]:[n,o,p,s;+1:3]>>[*-0:1]=[*:2]:[*+0:3]
Recombine 1,5-separated charges\t[N,P,As,Sb,O,S,Se,Te;-1:1]-[A+0:2]=[A:3]-[A:4]=[N,P,As,Sb,O,S,Se,Te;+1:5]>>\
[*-0:1]=[*:2]-[*:3]=[*:4]-[*+0:5]
Recombine 1,5-separated charges\t[n,o,p,s;-1:1]:[a:2]:[a:3]:[c:4]=[N,O,P,S;+1:5]>>\
[*-0:1]:[*:2]:[*:3]:[c:4]-[*+0:5]
Recombine 1,5-separated charges\t[N,O,P,S;-1:1]-[c:2]:[a:3]:[a:4]:[n,o,p,s;+1:5]>>\
[*-0:1]=[c:2]:[*:3]:[*:4]:[*+0:5]
Normalize 1,3 conjugated cation\t[N,O!$(*N);+0!H0:1]-[A:2]=[N!$(*~[N,O,P,S;-1]),O;+1H0:3]>>\
[*+1:1]=[*:2]-[*+0:3]
Normalize 1,3 conjugated cation\t[n;+0!H0:1]:[c:2]=[N!$(*~[N,O,P,S;-1]),O;+1H0:3]>>[*+1:1]:[*:2]-[*+0:3]
Normalize 1,5 conjugated cation\t[N,O!$(*N);+0!H0:1]-[A:2]=[A:3]-[A:4]=[N!$(*~[N,O,P,S;-1]),O;+1H0:5]>>\
[*+1:1]=[*:2]-[*:3]=[*:4]-[*+0:5]
Normalize 1,5 conjugated cation\t[n;+0!H0:1]:[a:2]:[a:3]:[c:4]=[N!$(*~[N,O,P,S;-1]),O;+1H0:5]>>\
[n+1:1]:[*:2]:[*:3]:[*:4]-[*+0:5]
Charge normalization\t[F,Cl,Br,I,At;-1:1]=[O:2]>>[*-0:1][O-:2]
Charge recombination\t[N,P,As,Sb;-1:1]=[C+;v3:2]>>[*+0:1]#[C+0:2]
"""

#: The reactant patterns of the rules that can match a molecule without charged atoms (nitro,
#: pyridine oxide, azide, diazo, sulfoxide), each rewritten from its most selective atom.
NEUTRAL_PATTERNS: dict[str, str] = {
    "Nitro to N+(O-)=O": "[N,P,As,Sb;X3](=[O,S,Se,Te])=[O,S,Se,Te]",
    "Pyridine oxide to n+O-": "[nH0+0]=[OH0+0]",
    "Azide to N=N+=N-": "[N]#[N]=[N][*]",
    "Diazo/azo to =N+=N-": "[N]#[N]=[*]",
    "Sulfoxide to -S+(O-)-": "[S+0;X3](=[O])([!O])[!O]",
}

_CHARGED = rdqueries.FormalChargeEqualsQueryAtom(0, negate=True)


def rules() -> list[tuple[str, str]]:
    """(name, SMIRKS) of each rule, in order."""
    return [(name, smirks) for name, smirks in (line.split("\t", 1) for line in RULES.splitlines())]


def has_charge(mol: Chem.Mol) -> bool:
    """Whether any atom carries a formal charge (one C++ pass over the atoms)."""
    return bool(mol.GetAtomsMatchingQuery(_CHARGED))


class GatedNormalizer:
    """RDKit's normaliser over :data:`RULES`, skipped for molecules no rule can match."""

    def __init__(self) -> None:
        self._normalizer = rdMolStandardize.NormalizerFromData(RULES, rdMolStandardize.CleanupParameters())
        self._neutral = [Chem.MolFromSmarts(p) for p in NEUTRAL_PATTERNS.values()]

    def applies(self, mol: Chem.Mol) -> bool:
        """False only when no rule's reactant pattern can match *mol*."""
        return has_charge(mol) or any(mol.HasSubstructMatch(p) for p in self._neutral)

    def normalize(self, mol: Chem.Mol) -> Chem.Mol:
        """The normalised molecule: *mol* itself when no rule applies, else RDKit's result."""
        return self._normalizer.normalize(mol) if self.applies(mol) else mol
