"""The commented ``molops.toml`` that ``molops init`` writes: every key with its default.

Apart from the schema (:mod:`molops.config`) because it is long text, not logic; a test parses it
and checks that it names every key with the value the schema defaults to.
"""

TEMPLATE = """\
# molops workspace configuration. Every key is optional; the values shown are the defaults.
# Unknown keys are an error. Any key can be overridden from the environment as
# MOLOPS_<SECTION>__<KEY>, e.g. MOLOPS_INGEST__WORKERS=4.

[storage]
# Where datasets, their quarantine and the prediction log live (Delta tables): a path relative to
# this file (empty: this directory), or an object store shared by a team, e.g. "s3://BUCKET/PREFIX".
# S3 endpoint, region and credentials come from the environment (AWS_ENDPOINT_URL, AWS_REGION,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; AWS_ALLOW_HTTP=true for a plain-http endpoint), never
# from this file. Feature caches, pools, campaigns, MLflow's default store and locks stay local.
uri = ""
# Every object written to S3 is encrypted server-side: SSE-KMS with this key id, or SSE-S3 if empty.
kms_key_id = ""

[workspace]
# Deprecated: `storage = "..."` here is the older spelling of [storage] uri, read when uri is empty.

[ingest]
# Molecules outside these bounds are quarantined with a reason, never silently dropped.
max_heavy_atoms = 100
min_heavy_atoms = 1
max_molecular_weight = 1500.0
# Molecules containing any other element are quarantined ("disallowed_element").
allowed_elements = ["H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"]
reject_radicals = true
# Molecules without carbon (water, salts, metals) are quarantined ("inorganic").
reject_inorganic = true
# How replicate measurements of the same molecule are combined: mean | median | min | max.
aggregation = "mean"
# New results for a molecule already in the dataset: "replace" its values with the new ones,
# or "accumulate" them with the earlier replicates.
on_existing = "replace"
# Replicates whose standard deviation exceeds this absolute tolerance are flagged. When unset,
# the tolerance is replicate_relative_tolerance x the spread (std) of the dataset's values.
# replicate_tolerance = 0.5
replicate_relative_tolerance = 0.5
# Rows per work unit, and worker processes (0 = all cores).
chunk_rows = 5000
workers = 0
# Seconds to wait for another ingest into the same dataset to finish.
lock_timeout_s = 600.0

# Accepted value range per target column; values outside are quarantined ("out_of_range").
[ingest.ranges]
# SOL = { min = -15.0, max = 5.0 }

[tracking]
# MLflow tracking URI for runs and the model registry, e.g. "http://mlflow:5000" or
# "postgresql://user@host/mlflow". Empty: a SQLite database in this workspace (mlflow.db).
uri = ""
# Where run artifacts (model bundles, plots) are stored, e.g. "s3://bucket/mlartifacts". Empty:
# mlartifacts/ beside the tables when [storage] uri is an object store, else in this workspace.
artifacts = ""
# Recorded with every change (molops audit, promotions); $MOLOPS_USER overrides it.
# Empty: the login name of whoever runs the command.
user = ""

[models]
# A molecule is in a model's applicability domain when its most similar training molecule is at
# least as similar as this quantile of the training molecules' own nearest-neighbour similarities.
domain_quantile = 0.05

[serve]
# `molops serve`: the REST service. Without keys it only binds a loopback address.
host = "127.0.0.1"
port = 8000
workers = 1
# Concurrent requests are joined into one model call of at most max_batch_size molecules,
# waiting at most max_wait_ms for more to arrive.
max_batch_size = 256
max_wait_ms = 2.0
# Limits, answered with a 4xx error that says which was exceeded.
max_molecules = 1000
max_smiles_length = 2000
max_body_bytes = 1000000
# Each molecule is standardised and featurised in a child process within molecule_timeout_ms;
# one over budget is stopped and answered with a timeout error, the rest of its request is not.
# A request of n molecules gives up (504) after max(5 s, n x molecule_timeout_ms).
molecule_timeout_ms = 250.0
# Child processes for that per worker: -1 = the cores left per worker, 0 = none (no per-molecule
# budget: the worker does the chemistry itself). Under a CPU quota (a container's CPU limit) set
# it to the quota: a container sees all of the host's cores.
chemistry_processes = -1
# Prepared molecules (parent, InChIKey, features) a worker keeps by SMILES, so one asked for again
# skips its chemistry (about 4.5 KB each for Morgan counts); never a prediction. 0: none kept.
cache_molecules = 4096
# Seconds between checks whether a served alias moved in the registry (hot swap); 0: never.
poll_s = 10.0
# Seconds between prediction-log writes (with N workers each writes every N x this).
log_interval_s = 1.0
# Log rows held in memory while the table cannot be written; beyond it they spill to local files.
log_max_pending = 1000000
# Seconds between runs of `molops monitor`'s checks, exported as gauges on /metrics; 0: never.
monitor_interval_s = 300.0
# A second alias (e.g. "challenger") sees shadow_share of the requests. Mode "mirror": it gets a
# copy, its predictions are logged beside the champion's with role "shadow" and never returned.
# Mode "canary": it answers those requests itself (logged with role "canary").
shadow_alias = ""
shadow_share = 1.0
shadow_mode = "mirror"
# Answer with each version's ONNX export (`molops models export NAME:VERSION --onnx PATH`; needs
# the onnx extra) instead of its native model, as `molops serve --onnx`.
onnx = false
# API keys, stored hashed: `molops serve-key NAME --role read|admin` prints a key and its line.
# Roles: read (predictions) and admin (also model management). Or set MOLOPS_SERVE__KEYS.
keys = []
# keys = [{ name = "lab-app", role = "read", hash = "sha256:…" }]

[monitor]
# `molops monitor`: the default window, and when each check warns or alerts. A drift check alerts
# only when its test is significant (p < alpha, Bonferroni over descriptors) and the effect is big.
since = "24h"
# Fewer distinct molecules (labels) in the window: the check says insufficient_data.
min_molecules = 30
min_labels = 20
# At most this many distinct molecules of a window are featurized for the drift tests.
max_molecules = 5000
alpha_warn = 0.01
alpha_alert = 0.001
# Population stability index of a descriptor against the training set.
psi_warn = 0.1
psi_alert = 0.25
# How far the similarities to the nearest training molecule fell below the training set's own:
# the KS statistic (the largest gap between the two cumulative distributions, 0–1).
similarity_ks_warn = 0.2
similarity_ks_alert = 0.3
# Out-of-domain share as a multiple of the expected share ([models] domain_quantile).
out_of_domain_warn = 2.0
out_of_domain_alert = 3.0
# New-scaffold rate above what the training set leads one to expect.
new_scaffolds_warn = 0.1
new_scaffolds_alert = 0.2
# Live RMSE (once labels arrive) as a multiple of the model's held-out test RMSE.
live_error_warn = 1.2
live_error_alert = 1.5
# Share of labels inside the predicted 95% interval.
coverage_warn = 0.85
coverage_alert = 0.75
latency_p99_ms_warn = 500.0
latency_p99_ms_alert = 2000.0
# Share of molecules answered with an error (unparsable or rejected input).
error_rate_warn = 0.1
error_rate_alert = 0.25

[retrain]
# `molops retrain --if-needed` trains a challenger when any trigger fires (without --if-needed it
# always does), and promotes it only through the gate below. Triggers look at this window:
since = "7d"
on_drift = true          # an input-drift check alerts
live_error_ratio = 1.5   # live RMSE ≥ this × held-out test RMSE (0: never)
new_labels = 50          # labelled molecules new since the champion's data version (0: never)
max_age_days = 30.0      # the champion is older than this (0: never)
# Re-tune hyperparameters instead of reusing the champion's recipe.
retune = false
# The gate, on molecules neither model was trained on: the challenger's RMSE must be at least
# `margin` below the champion's, its miscalibration area at most `calibration_tolerance` above,
# and there must be at least `min_compare` such molecules.
margin = 0.02
calibration_tolerance = 0.05
min_compare = 20
"""
