"""The model zoo: one module per model family; importing this package registers them all.

| name | module | uncertainty |
| --- | --- | --- |
| ``rf`` | :mod:`~molops.models.zoo.forest` | spread of per-tree predictions |
| ``lightgbm`` | :mod:`~molops.models.zoo.boosting` | spread of a bootstrap ensemble |
| ``gp`` | :mod:`~molops.models.zoo.gaussian_process` | GP posterior (Tanimoto kernel) plus noise |
| ``gp-split`` | :mod:`~molops.models.zoo.gp_split` | GP posterior (fingerprint + descriptor kernels) |
| ``mlp`` | :mod:`~molops.models.zoo.neural` | spread of a deep ensemble |
| ``dmpnn`` | :mod:`~molops.models.zoo.dmpnn` | seed ensemble and/or mean-variance head (on SMILES) |

``dmpnn`` needs the optional ``gnn`` extra (chemprop, torch, Lightning), which its module imports only
inside methods: it is listed either way, and says what to install when used without them.
"""

from molops.models.zoo import boosting, dmpnn, forest, gaussian_process, gp_split, neural
from molops.models.zoo.boosting import LightGBMEnsemble
from molops.models.zoo.dmpnn import DMPNN
from molops.models.zoo.forest import RandomForest
from molops.models.zoo.gaussian_process import TanimotoGP, tanimoto_kernel
from molops.models.zoo.gp_split import SplitGP
from molops.models.zoo.neural import MLPEnsemble

__all__ = [
    "DMPNN",
    "LightGBMEnsemble",
    "MLPEnsemble",
    "RandomForest",
    "SplitGP",
    "TanimotoGP",
    "boosting",
    "dmpnn",
    "forest",
    "gaussian_process",
    "gp_split",
    "neural",
    "tanimoto_kernel",
]
