"""The workspace: a directory with ``molops.toml`` that owns every dataset, model and log.

Paths to tables are built here and nowhere else, from one :class:`~molops.storage.Storage`: the
workspace directory by default, or an object store (``[storage] uri = "s3://BUCKET/PREFIX"``) that
several workspace directories on several machines share. Lock files always live on the local
disk; feature caches and pools live there too, as read-through copies of the object store's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from molops._types import StrPath
from molops.config import CONFIG_FILE, TEMPLATE, MolopsConfig, load_config
from molops.data.audit import AuditLog, acting_user
from molops.data.dataset import Dataset
from molops.data.ingest import standardizer_settings
from molops.data.store import DatasetStore
from molops.errors import (
    ConfigError,
    DatasetNotFoundError,
    InvalidNameError,
    WorkspaceExistsError,
    WorkspaceNotFoundError,
)
from molops.features.store import FeatureStore
from molops.storage import Storage

ENV_VAR = "MOLOPS_WORKSPACE"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str, kind: str = "dataset") -> str:
    """Names become directory names: letters, digits, '.', '_' and '-', at most 64 characters."""
    if not _NAME.fullmatch(name):
        raise InvalidNameError(
            f"{kind} name {name!r} is not allowed; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 64 characters)"
        )
    return name


class Workspace:
    """An opened workspace. Build with :meth:`init`, :meth:`open` or :meth:`find`."""

    def __init__(self, root: Path, config: MolopsConfig) -> None:
        self.root = root
        self.config = config

    # -- locating ------------------------------------------------------------------------------
    @classmethod
    def init(cls, path: StrPath, storage: str | None = None) -> Workspace:
        """Create a workspace in *path* (created if needed) with a commented ``molops.toml``.

        *storage* (a path or ``s3://BUCKET/PREFIX``) becomes ``[storage] uri``: a second directory
        initialised with the same URL is the same workspace's tables. An object store is checked
        for access before anything is created.
        """
        root = Path(path).resolve()
        config_path = root / CONFIG_FILE
        if config_path.exists():
            raise WorkspaceExistsError(f"{root}: already a molops workspace ({CONFIG_FILE} exists)")
        text = TEMPLATE
        if storage:
            where = Storage.at(storage, base=root)  # a malformed URL fails before anything exists
            if not where.is_local:
                where.check()
            at = text.index("[storage]\n")  # the first `uri = ""` after it is [storage]'s
            text = text[:at] + text[at:].replace('\nuri = ""\n', f"\nuri = {_toml_string(storage)}\n", 1)
        root.mkdir(parents=True, exist_ok=True)
        config_path.write_text(text, encoding="utf-8")
        (root / ".molops" / "locks").mkdir(parents=True, exist_ok=True)
        return cls.open(root)

    @classmethod
    def open(cls, path: StrPath) -> Workspace:
        """Open the workspace whose ``molops.toml`` is in *path*."""
        root = Path(path).resolve()
        config_path = root / CONFIG_FILE
        if not config_path.is_file():
            raise WorkspaceNotFoundError(
                f"{root}: not a molops workspace (no {CONFIG_FILE}); create one with `molops init {path}`"
            )
        return cls(root, load_config(config_path))

    @classmethod
    def find(cls, explicit: StrPath | None = None, cwd: StrPath | None = None) -> Workspace:
        """``--workspace`` if given, else ``$MOLOPS_WORKSPACE``, else the cwd and its parents."""
        if explicit:
            return cls.open(explicit)
        if env := os.environ.get(ENV_VAR):
            return cls.open(env)
        start = Path(cwd or Path.cwd()).resolve()
        for folder in (start, *start.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls.open(folder)
        raise WorkspaceNotFoundError(
            f"no molops workspace in {start} or its parents; pass --workspace DIR, set "
            f"{ENV_VAR}, or create one with `molops init DIR`"
        )

    # -- layout --------------------------------------------------------------------------------
    @property
    def storage(self) -> Storage:
        """Where the tables live: ``[storage] uri``, else the deprecated ``[workspace] storage``."""
        location = self.config.storage.uri or self.config.workspace.storage
        return Storage.at(location, base=self.root, kms_key_id=self.config.storage.kms_key_id)

    @property
    def storage_uri(self) -> str:
        """Root of the workspace's tables: an absolute local path or an object-store URL."""
        return self.storage.root

    @property
    def storage_options(self) -> dict[str, str]:
        """deltalake ``storage_options`` for any table under :attr:`storage_uri`."""
        return self.storage.options

    @property
    def lock_dir(self) -> Path:
        path = self.root / ".molops" / "locks"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def dataset(self, name: str) -> Dataset:
        """The dataset called *name* (it need not exist yet: ingest creates it)."""
        check_name(name)
        store = DatasetStore(
            name,
            self.storage.child("datasets", name),
            self.lock_dir / f"dataset-{name}.lock",
            self.config.ingest.lock_timeout_s,
        )
        identities = self.storage.child("identities")  # the identity cache every dataset shares
        return Dataset(store, self.config.ingest, audit=self.audit, identities=identities)

    def existing_dataset(self, name: str) -> Dataset:
        """The dataset called *name*, which must exist: a typo is answered with the datasets there are."""
        ds = self.dataset(name)
        if not ds.exists():
            known = ", ".join(self.datasets()) or "none yet"
            raise DatasetNotFoundError(f"no dataset {name!r} in {self.root}; datasets: {known}")
        return ds

    def datasets(self) -> list[str]:
        """Names of the datasets that have at least one version (listed through the store)."""
        datasets = self.storage.child("datasets")
        return [name for name in datasets.list_dirs() if datasets.is_table(name, "table")]

    @property
    def features(self) -> FeatureStore:
        """The workspace's feature caches (local directory ``features/``; on an object-store
        workspace a read-through copy of ``{storage}/features`` and ``{storage}/pools``)."""
        return FeatureStore(
            self.root / "features",
            self.lock_dir,
            self.root / "pools",
            standardizer_settings(self.config.ingest),
            shared=None if self.storage.is_local else self.storage,
        )

    @property
    def audit(self) -> AuditLog:
        """Who changed what (``audit/``), recording as the acting user (:func:`acting_user`)."""
        return AuditLog(self.storage.child("audit"), acting_user(self.config.tracking.user))

    @property
    def prediction_log_uri(self) -> str:
        """The prediction log's Delta table: every served, batch and campaign prediction."""
        return self.storage.uri("predictions")

    @property
    def prediction_spill_dir(self) -> Path:
        """Local files for log rows the table could not take: beside a local table, else in the
        workspace directory (a spill exists because the store could not be written)."""
        storage = self.storage
        base = Path(storage.root) if storage.is_local else self.root
        return base / "predictions-spill"


def _toml_string(text: str) -> str:
    """*text* as a TOML basic string."""
    if any(ord(c) < 32 for c in text):
        raise ConfigError(f"storage {text!r} contains control characters; expected a path or URL")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
