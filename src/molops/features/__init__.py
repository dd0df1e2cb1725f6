"""Features: a registry of molecular featurizers and a persistent, shared feature cache."""

from molops.features import descriptors, fingerprints, graph  # noqa: F401  (registers featurizers)
from molops.features.base import FEATURIZERS, FeatureMatrix, Featurizer, get_featurizer

__all__ = ["FEATURIZERS", "FeatureMatrix", "Featurizer", "get_featurizer"]
