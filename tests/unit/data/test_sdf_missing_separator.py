"""An SDF whose ``$$$$`` line is missing between two records (hand-merged vendor files): each mol
block is still its own record with its own data items, never the first with the second's values."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molops.data.readers import RecordReader
from molops.data.sdf import sdf_records
from molops.data.sources import Source

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O"]


def _record(smiles: str, y: str, v3000: bool = False) -> str:
    return Chem.MolToMolBlock(Chem.MolFromSmiles(smiles), forceV3000=v3000) + f">  <y>\n{y}\n\n"


def test_a_missing_separator_splits_at_the_next_mol_block():
    text = _record("CCO", "1") + "$$$$\n" + _record("CCN", "2") + _record("CCC", "3") + "$$$$\n"
    records = list(sdf_records(text.splitlines(keepends=True)))
    assert [r.props for r in records] == [{"y": "1"}, {"y": "2"}, {"y": "3"}]
    assert [Chem.MolToSmiles(Chem.MolFromMolBlock(r.molblock)) for r in records] == ["CCO", "CCN", "CCC"]


def test_a_missing_separator_between_v3000_blocks():
    text = _record("CCN", "2", v3000=True) + _record("CCC", "3", v3000=True)
    records = list(sdf_records(text.splitlines(keepends=True)))
    assert [(r.props, r.terminated) for r in records] == [({"y": "2"}, True), ({"y": "3"}, False)]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.sampled_from(SMILES), st.booleans(), st.booleans()), min_size=1, max_size=6),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_every_mol_block_keeps_its_own_values(write, rows, eol):
    """Whichever separators are dropped, record i reads as molecule i with value i."""
    text = "".join(
        _record(smiles, str(i), v3000) + ("$$$$\n" if keep else "")
        for i, (smiles, v3000, keep) in enumerate(rows)
    )
    path = write("p.sdf", text.replace("\n", eol))
    with Source(path) as source:
        chunks = list(RecordReader(source, "sdf", None, "y", chunk_rows=2))
    got = [
        (Chem.MolToSmiles(Chem.MolFromMolBlock(s)), t)
        for c in chunks
        for s, t in zip(c.structures, c.targets, strict=True)
    ]
    assert got == [(Chem.MolToSmiles(Chem.MolFromSmiles(s)), str(i)) for i, (s, _, _) in enumerate(rows)]
