"""Monitoring: input drift, prediction drift, live performance and processing health of a model."""
