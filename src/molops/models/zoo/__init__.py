"""The model zoo: one module per model family; importing this package registers them all.

| name | module | uncertainty |
| --- | --- | --- |
| ``rf`` | :mod:`~molops.models.zoo.forest` | spread of per-tree predictions |
| ``lightgbm`` | :mod:`~molops.models.zoo.boosting` | spread of a bootstrap ensemble |
| ``gp`` | :mod:`~molops.models.zoo.gaussian_process` | GP posterior (Tanimoto kernel) plus noise |
| ``mlp`` | :mod:`~molops.models.zoo.neural` | spread of a deep ensemble |
"""

from molops.models.zoo import boosting, forest, gaussian_process, neural
from molops.models.zoo.boosting import LightGBMEnsemble
from molops.models.zoo.forest import RandomForest
from molops.models.zoo.gaussian_process import TanimotoGP, tanimoto_kernel
from molops.models.zoo.neural import MLPEnsemble

__all__ = [
    "LightGBMEnsemble",
    "MLPEnsemble",
    "RandomForest",
    "TanimotoGP",
    "boosting",
    "forest",
    "gaussian_process",
    "neural",
    "tanimoto_kernel",
]
