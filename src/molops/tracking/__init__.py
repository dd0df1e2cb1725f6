"""Tracking: MLflow runs, the pyfunc model bundle, the model registry with aliases and lineage.

Importing this package does not import MLflow; the modules that talk to it do so lazily.
"""
