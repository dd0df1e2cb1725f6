"""``molops.toml``: the workspace configuration, validated by pydantic.

Unknown keys are errors (a typo must never be silently ignored), and every error names the key.
Settings may be overridden from the environment with ``MOLOPS_<SECTION>__<KEY>``, e.g.
``MOLOPS_INGEST__WORKERS=4``; values are parsed as TOML literals, falling back to plain strings.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from molops.config_template import TEMPLATE as TEMPLATE  # its home until it moved; still read here
from molops.errors import ConfigError

CONFIG_FILE = "molops.toml"
ENV_PREFIX = "MOLOPS_"

#: Elements a medicinal-chemistry training set normally contains.
from molops.chem.elements import DEFAULT_ELEMENTS as DEFAULT_ELEMENTS  # noqa: E402 - defined without pydantic


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ValueRange(_Section):
    """Accepted closed interval for one target column; either end may be left open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class WorkspaceSection(_Section):
    """Deprecated: ``[storage] uri`` replaces ``storage`` here (still read when that is empty)."""

    storage: str = "."


class StorageSection(_Section):
    """Where the workspace's Delta tables live (datasets, quarantine, the prediction log)."""

    #: A path relative to the workspace, or an object-store URL such as ``s3://BUCKET/PREFIX``
    #: (endpoint, region and credentials from the standard AWS environment variables, never here).
    #: Empty: ``[workspace] storage``, whose default is the workspace directory itself.
    uri: str = ""
    #: SSE-KMS key id for every object written to S3; empty: SSE-S3 (AES256).
    kms_key_id: str = ""


class IngestSection(_Section):
    """Validation and merging rules applied to every ingested row."""

    max_heavy_atoms: int = Field(100, ge=1)
    min_heavy_atoms: int = Field(1, ge=1)
    max_molecular_weight: float = Field(1500.0, gt=0)
    allowed_elements: list[str] = Field(default_factory=lambda: list(DEFAULT_ELEMENTS))
    reject_radicals: bool = True
    reject_inorganic: bool = True
    aggregation: Literal["mean", "median", "min", "max"] = "mean"
    on_existing: Literal["replace", "accumulate"] = "replace"
    replicate_tolerance: float | None = Field(None, gt=0)
    replicate_relative_tolerance: float = Field(0.5, gt=0)
    ranges: dict[str, ValueRange] = Field(default_factory=dict)
    chunk_rows: int = Field(5000, ge=100)
    workers: int = Field(0, ge=0)
    lock_timeout_s: float = Field(600.0, ge=0)


class TrackingSection(_Section):
    """Where runs and registered models are kept (MLflow)."""

    #: An MLflow tracking URI; empty: a SQLite database in the workspace (``mlflow.db``).
    uri: str = ""
    #: Where run artifacts go (any MLflow artifact URI); empty: ``mlartifacts`` beside the tables
    #: when they are on an object store, else ``mlartifacts/`` in the workspace.
    artifacts: str = ""
    #: Recorded with every change (audit log, promotions); ``$MOLOPS_USER`` wins; empty: the login name.
    user: str = ""


class ModelsSection(_Section):
    """Applicability domain of served and batch predictions."""

    #: A molecule is in the domain when its nearest training neighbour (Tanimoto, Morgan r=2 bits)
    #: is at least as similar as this quantile of the training set's own nearest-neighbour similarities.
    domain_quantile: float = Field(0.05, ge=0, le=1)


class ApiKey(_Section):
    """One API key of the service, stored as a hash (``molops serve-key NAME`` makes one)."""

    name: str = Field(min_length=1, max_length=64)
    role: Literal["read", "review", "admin"] = "read"
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class ServeSection(_Section):
    """``molops serve``: the REST service's address, batching, limits and keys."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    #: Dynamic micro-batching: concurrent requests are joined into one model call of at most
    #: this many molecules, waiting at most max_wait_ms for company.
    max_batch_size: int = Field(256, ge=1)
    max_wait_ms: float = Field(2.0, ge=0)
    max_molecules: int = Field(1000, ge=1)
    max_smiles_length: int = Field(2000, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    #: Each molecule's standardisation and featurisation runs in a child process with this budget;
    #: one over it is stopped (its item gets a timeout error, the others are answered). A request of
    #: n molecules fails with 504 after max(5 s, n × this).
    molecule_timeout_ms: float = Field(250.0, gt=0)
    #: Child processes for that chemistry per worker: -1 = the cores left per worker, 0 = none (in
    #: the worker itself: faster for one molecule, but nothing can stop a pathological one).
    chemistry_processes: int = Field(-1, ge=-1)
    #: Prepared molecules (parent, InChIKey, features, fingerprint; ≈ 4.5 KB each for Morgan counts)
    #: a worker keeps by SMILES, so a molecule asked for again skips its chemistry; 0: none kept.
    cache_molecules: int = Field(4096, ge=0)
    #: How often the registry is asked whether a served alias moved (hot swap); 0: never.
    poll_s: float = Field(10.0, ge=0)
    #: Seconds between prediction-log writes (rows are buffered in between); with N workers, each
    #: writes every N × this, so the service still commits once per interval.
    log_interval_s: float = Field(1.0, gt=0)
    #: Prediction-log rows a worker holds in memory while the table cannot take them; beyond this,
    #: they are spilled to local Parquet files beside the table and appended once it can.
    log_max_pending: int = Field(1_000_000, ge=1)
    #: Seconds between runs of the monitoring checks whose results /metrics exports; 0: never.
    monitor_interval_s: float = Field(300.0, ge=0)
    #: A second alias that sees this share of requests: a mirrored copy whose predictions are logged
    #: and never returned (mode mirror), or the answer itself instead of the first alias (canary).
    shadow_alias: str = ""
    shadow_share: float = Field(1.0, ge=0, le=1)
    shadow_mode: Literal["mirror", "canary"] = "mirror"
    #: Answer with each version's recorded ONNX export (`molops models export`) instead of its
    #: native model; a version without one does not load.
    onnx: bool = False
    keys: list[ApiKey] = Field(default_factory=list)


class MonitorSection(_Section):
    """``molops monitor``: the window, the minimum sample sizes and the thresholds of each check.

    A drift check alerts only when its test is significant (p below alpha, Bonferroni-corrected
    over the descriptors) *and* the effect is large enough to matter; warn uses the looser pair.
    """

    since: str = "24h"
    min_molecules: int = Field(30, ge=2)
    min_labels: int = Field(20, ge=2)
    #: at most this many distinct molecules of a window are featurized for the drift tests
    max_molecules: int = Field(5000, ge=100)
    alpha_warn: float = Field(0.01, gt=0, lt=1)
    alpha_alert: float = Field(0.001, gt=0, lt=1)
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    #: KS statistic of the nearest-training-neighbour similarities (window lower than training)
    similarity_ks_warn: float = Field(0.2, gt=0, le=1)
    similarity_ks_alert: float = Field(0.3, gt=0, le=1)
    #: out-of-domain share as a multiple of the share expected (models.domain_quantile)
    out_of_domain_warn: float = Field(2.0, gt=1)
    out_of_domain_alert: float = Field(3.0, gt=1)
    #: new-scaffold rate above the rate expected from the training set (Good-Turing)
    new_scaffolds_warn: float = Field(0.1, gt=0)
    new_scaffolds_alert: float = Field(0.2, gt=0)
    #: live RMSE as a multiple of the model's held-out test RMSE
    live_error_warn: float = Field(1.2, gt=1)
    live_error_alert: float = Field(1.5, gt=1)
    #: share of labels inside the predicted 95% interval
    coverage_warn: float = Field(0.85, gt=0, lt=1)
    coverage_alert: float = Field(0.75, gt=0, lt=1)
    latency_p99_ms_warn: float = Field(500.0, gt=0)
    latency_p99_ms_alert: float = Field(2000.0, gt=0)
    error_rate_warn: float = Field(0.1, gt=0, lt=1)
    error_rate_alert: float = Field(0.25, gt=0, lt=1)


class RetrainSection(_Section):
    """``molops retrain``: when to train a challenger, and when it may replace the champion."""

    #: monitoring window the drift and live-error triggers look at
    since: str = "7d"
    #: retrain when an input-drift check (descriptors, similarity, domain, scaffolds) alerts
    on_drift: bool = True
    #: retrain when the live RMSE reaches this multiple of the held-out test RMSE; 0: never
    live_error_ratio: float = Field(1.5, ge=0)
    #: retrain when this many labelled molecules arrived since the champion's data version; 0: never
    new_labels: int = Field(50, ge=0)
    #: retrain when the champion is older than this many days; 0: never
    max_age_days: float = Field(30.0, ge=0)
    #: re-tune the challenger's hyperparameters instead of reusing the champion's
    retune: bool = False
    #: the challenger must have an RMSE at least this fraction below the champion's
    margin: float = Field(0.02, ge=0, lt=1)
    #: ... and a miscalibration area at most this much above the champion's
    calibration_tolerance: float = Field(0.05, ge=0)
    #: molecules neither model was trained on that the comparison needs
    min_compare: int = Field(20, ge=2)


class MolopsConfig(_Section):
    """The whole of ``molops.toml``."""

    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    ingest: IngestSection = Field(default_factory=IngestSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    models: ModelsSection = Field(default_factory=ModelsSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    monitor: MonitorSection = Field(default_factory=MonitorSection)
    retrain: RetrainSection = Field(default_factory=RetrainSection)


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key {key!r}; see the commented template that `molops init` writes"
    return f"{source}: invalid value for {key!r}: {err['msg']}"


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, object]]:
    overrides: dict[str, dict[str, object]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        try:
            value: object = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        overrides.setdefault(section, {})[key] = value
    return overrides


def parse_config(text: str, source: str = CONFIG_FILE, environ: dict[str, str] | None = None) -> MolopsConfig:
    """Parse and validate config text, applying ``MOLOPS_SECTION__KEY`` environment overrides."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    for section, values in _env_overrides(dict(os.environ if environ is None else environ)).items():
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{source}: {section!r} must be a table to accept environment overrides")
        target.update(values)
    try:
        return MolopsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: Path) -> MolopsConfig:
    """Read ``molops.toml`` at *path*."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the workspace config ({exc.strerror})") from None
    return parse_config(text, source=str(path))
