"""molops: the closed loop of molecular discovery as one self-hostable platform.

The public Python API mirrors the CLI::

    from molops import Workspace
    ws = Workspace.open("my-workspace")
    report = ws.dataset("sol").ingest("measurements.csv", smiles_col="smiles", target_col="logS")
    df = ws.dataset("sol").read(version=report.version)
"""

from typing import TYPE_CHECKING, Any

from molops._version import __version__
from molops.errors import MolopsError

if TYPE_CHECKING:
    from molops.workspace import Workspace

__all__ = ["MolopsError", "Workspace", "__version__"]


def __getattr__(name: str) -> Any:
    """Import Workspace (pandas, pyarrow, deltalake) on first use: worker processes that only
    standardise molecules import ``molops.data.validation`` and should not pay for it."""
    if name == "Workspace":
        from molops.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'molops' has no attribute {name!r}")
