"""molops: the closed loop of molecular discovery as one self-hostable platform.

The public Python API mirrors the CLI::

    from molops import Workspace
    ws = Workspace.open("my-workspace")
    report = ws.dataset("sol").ingest("measurements.csv", smiles_col="smiles", target_col="logS")
    df = ws.dataset("sol").read(version=report.version)
"""

from molops._version import __version__
from molops.errors import MolopsError
from molops.workspace import Workspace

__all__ = ["MolopsError", "Workspace", "__version__"]
