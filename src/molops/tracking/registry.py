"""Registered models, their versions and aliases (MLflow's model registry), with an audit trail.

One registered model per (dataset, target) by default. The first version becomes ``champion``;
later versions become ``challenger`` until promoted. Every alias move (promotion or rollback) is
recorded with who, when and why: on the model version (``molops.promoted.<alias>``) and in the
registered model's history (``molops.alias_history``, a JSON list), which is what ``rollback``
walks back through.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from molops._version import __version__
from molops.data.audit import AuditLog, acting_user
from molops.redact import redact
from molops.tracking._mlflow import Quiet, TrackingError, client, mlflow

if TYPE_CHECKING:  # the bundle imports the model zoo (a second): only load() needs it
    from molops.tracking.bundle import ModelBundle

log = logging.getLogger("molops.registry")

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "molops.alias_history"
_REF = re.compile(r"^(?P<name>[^@:]+?)(?:@(?P<alias>[A-Za-z0-9_-]+)|:(?P<version>\d+))?$")


class ModelRef(BaseModel):
    """``NAME``, ``NAME@alias`` or ``NAME:version`` (a bare name means ``NAME@champion``)."""

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.fullmatch(text.strip())
        if not match:
            raise TrackingError(
                f"model reference {text!r} is not valid; expected NAME, NAME@ALIAS or NAME:VERSION"
            )
        version = match["version"]
        alias = match["alias"] or (None if version else CHAMPION)
        return cls(name=match["name"], alias=alias, version=int(version) if version else None)

    def __str__(self) -> str:
        return self.name + (f"@{self.alias}" if self.alias else f":{self.version}")

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _updated(model: Any) -> str:
    """When a registered model last changed, ISO 8601 in UTC.

    MLflow's ``last_updated_timestamp`` moves with new versions but not with alias moves, so a
    promotion or rollback would leave "updated" at the version's registration; the history has those.
    """
    times = [datetime.fromtimestamp(model.last_updated_timestamp / 1000, UTC)]
    times += [
        datetime.fromisoformat(e["at"]) for e in json.loads(model.tags.get(HISTORY_TAG, "[]")) if e.get("at")
    ]
    return max(times).isoformat(timespec="seconds")


class ModelRegistry:
    """The workspace's registered models (any MLflow tracking URI)."""

    def __init__(self, tracking_uri: str, user: str = "", audit: AuditLog | None = None) -> None:
        self._uri = tracking_uri
        #: the URI as printed and stored in results: any password masked
        self.tracking_uri = redact(tracking_uri)
        self.user = acting_user(user)
        #: where alias moves are recorded with who made them (``Workspace.audit``); None: nowhere
        self.audit = audit.as_user(self.user) if audit is not None else None
        self.client = client(tracking_uri)

    # -- reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        with Quiet():
            return sorted(m.name for m in self.client.search_registered_models())

    def _model(self, name: str) -> Any:
        with Quiet():
            try:
                return self.client.get_registered_model(name)
            except mlflow().exceptions.MlflowException:
                known = ", ".join(self.names()) or "none yet; train one with `molops train`"
                raise TrackingError(f"no registered model {name!r}; registered models: {known}") from None

    def _versions(self, name: str) -> list[Any]:
        with Quiet():
            found = self.client.search_model_versions(f"name='{name}'")
        return sorted(found, key=lambda mv: int(mv.version))

    def resolve(self, ref: ModelRef | str) -> Any:
        """The MLflow model version a reference points to."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        model = self._model(ref.name)
        with Quiet():
            try:
                if ref.alias:
                    return self.client.get_model_version_by_alias(ref.name, ref.alias)
                return self.client.get_model_version(ref.name, str(ref.version))
            except mlflow().exceptions.MlflowException:
                aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(model.aliases.items())) or "none"
                versions = ", ".join(str(mv.version) for mv in self._versions(ref.name))
                wanted = f"alias {ref.alias}" if ref.alias else f"version {ref.version}"
                raise TrackingError(
                    f"model {ref.name!r} has no {wanted}; versions: {versions}; aliases: {aliases}"
                ) from None

    def _run(self, run_id: str) -> Any:
        with Quiet():
            return self.client.get_run(run_id)

    def version_info(self, mv: Any, aliases: dict[str, int] | None = None) -> dict[str, Any]:
        run = self._run(mv.run_id) if mv.run_id else None
        held = sorted(a for a, v in (aliases or {}).items() if v == int(mv.version))
        return {
            "version": int(mv.version),
            "aliases": held,
            "run_id": mv.run_id,
            "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(
                timespec="seconds"
            ),
            "model": mv.tags.get("molops.model"),
            "featurizer": mv.tags.get("molops.featurizer"),
            "dataset": mv.tags.get("molops.dataset"),
            "dataset_version": _int(mv.tags.get("molops.dataset_version")),
            "metrics": dict(sorted(run.data.metrics.items())) if run else {},
            "model_uri": f"models:/{mv.name}/{mv.version}",
            "promotions": {
                k.removeprefix("molops.promoted."): json.loads(v)
                for k, v in mv.tags.items()
                if k.startswith("molops.promoted.")
            },
        }

    def list(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.names():
            model = self._model(name)
            versions = self._versions(name)
            rows.append(
                {
                    "name": name,
                    "versions": len(versions),
                    "latest_version": int(versions[-1].version) if versions else None,
                    "aliases": {a: int(v) for a, v in sorted(model.aliases.items())},
                    "target": model.tags.get("molops.target"),
                    "updated": _updated(model),
                }
            )
        return rows

    def show(self, name: str) -> dict[str, Any]:
        model = self._model(name)
        aliases = {a: int(v) for a, v in sorted(model.aliases.items())}
        return {
            "name": name,
            "tracking_uri": self.tracking_uri,
            "model_uri": f"models:/{name}@{CHAMPION}" if CHAMPION in aliases else None,
            "target": model.tags.get("molops.target"),
            "aliases": aliases,
            "versions": [self.version_info(mv, aliases) for mv in self._versions(name)],
            "history": self.history(name),
        }

    def history(self, name: str) -> builtins.list[dict[str, Any]]:  # `list` here is the method above
        history: builtins.list[dict[str, Any]] = json.loads(self._model(name).tags.get(HISTORY_TAG, "[]"))
        return history

    def lineage(self, name: str, version: int) -> dict[str, Any]:
        """What produced a version: dataset version, featurizer, params, split, code and environment."""
        mv = self.resolve(ModelRef(name=name, version=version))
        run = self._run(mv.run_id)
        tags, params = run.data.tags, run.data.params
        return {
            "name": name,
            "version": version,
            "run_id": mv.run_id,
            "dataset": tags.get("molops.dataset"),
            "dataset_version": _int(tags.get("molops.dataset_version")),
            "target": tags.get("molops.target"),
            "model": tags.get("molops.model"),
            "featurizer": tags.get("molops.featurizer"),
            "featurizer_hash": tags.get("molops.featurizer_hash"),
            "params": {
                k.removeprefix("model."): _value(v)
                for k, v in sorted(params.items())
                if k.startswith("model.")
            },
            "split": tags.get("molops.split"),
            "seed": _int(params.get("seed")),
            "tuned": tags.get("molops.tuned") == "true",
            "code": {"molops_version": tags.get("molops.version"), "git_sha": tags.get("molops.git_sha")},
            "environment": json.loads(tags.get("molops.environment", "{}")),
            "metrics": dict(sorted(run.data.metrics.items())),
        }

    def load(self, ref: ModelRef | str) -> tuple[ModelBundle, Any]:
        """The bundle of the version *ref* points to, and that version."""
        mv = self.resolve(ref)
        mod = mlflow()
        with Quiet():
            # where this registry's store keeps the files: ``models:/`` URIs (and MLflow's own
            # download helpers) resolve through the process-global tracking URI, which another
            # workspace's Tracking may have set, and would load that store's model of the same name
            source = self.client.get_model_version_download_uri(mv.name, mv.version)
            previous = mod.get_tracking_uri()
            mod.set_tracking_uri(self._uri)  # for mlflow-artifacts:// sources of a server
            try:
                # MLflow's own check of the logged requirements reads every installed distribution's
                # metadata (a large share of a CLI command's load) only to warn in MLflow's words;
                # the bundle itself refuses features that changed, and the version note is below
                model = mod.pyfunc.load_model(source, suppress_warnings=True)
            finally:
                mod.set_tracking_uri(previous)
        bundle: ModelBundle = model.unwrap_python_model().bundle
        if bundle.info.molops_version != __version__:
            log.warning(
                "model %s version %s was trained with molops %s and is loaded by molops %s; its "
                "features are checked to be the same, but retrain it if its predictions look off",
                mv.name,
                mv.version,
                bundle.info.molops_version,
                __version__,
            )
        return bundle, mv

    # -- writing -------------------------------------------------------------------------------
    def record(self, name: str, entry: dict[str, Any]) -> None:
        """Append *entry* to the model's history: alias moves, and decisions such as a rejected challenger."""
        history = [*self.history(name), entry]
        with Quiet():
            self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))

    def promote(
        self, name: str, version: int, alias: str = CHAMPION, reason: str = "", operation: str = "promote"
    ) -> dict[str, Any]:
        """Point *alias* at *version*, recording who, when, why and what it replaced.

        Promoting the version the alias already points at changes nothing and records nothing
        (``"unchanged": true``), so a repeated promotion cannot make the next rollback a no-op.
        """
        model = self._model(name)
        self.resolve(ModelRef(name=name, version=version))
        previous = model.aliases.get(alias)
        if _int(previous) == version:
            return {"name": name, "alias": alias, "version": version, "previous": version, "unchanged": True}
        entry = {
            "alias": alias,
            "version": version,
            "previous": int(previous) if previous else None,
            "operation": operation,
            "at": _now(),
            "by": self.user,
            "reason": reason,
        }
        with Quiet():
            self.client.set_registered_model_alias(name, alias, str(version))
            self.client.set_model_version_tag(
                name,
                str(version),
                f"molops.promoted.{alias}",
                json.dumps({k: entry[k] for k in ("at", "by", "reason", "previous", "operation")}),
            )
            # MLflow 3 gives alias versions as int (2.x as str): compare as numbers
            if alias == CHAMPION and _int(model.aliases.get(CHALLENGER)) == version:
                self.client.delete_registered_model_alias(name, CHALLENGER)
        self.record(name, entry)
        if self.audit is not None and operation != "register":  # a training records its own row
            action = "model.rollback" if operation == "rollback" else "model.promote"
            details = {"alias": alias, "previous": entry["previous"], "operation": operation}
            self.audit.record(action, name, version, reason=reason, **details)
        return {"name": name, **entry, "unchanged": False}

    def rollback(self, name: str, alias: str = CHAMPION, reason: str = "") -> dict[str, Any]:
        """Move *alias* back to the version it pointed to before its latest move."""
        model = self._model(name)
        current = model.aliases.get(alias)
        if current is None:
            raise TrackingError(f"model {name!r} has no {alias!r} alias to roll back")
        moves = [e for e in self.history(name) if e.get("alias") == alias]
        # walk back over earlier rollbacks: the target is the version before the last forward move
        # that put the current version in place
        target = None
        for entry in reversed(moves):
            if (
                entry["version"] == int(current)
                and entry.get("previous")
                and entry["operation"] != "rollback"
            ):
                target = entry["previous"]
                break
        if target is None:
            raise TrackingError(
                f"model {name!r}: {alias!r} (version {current}) has no earlier version to roll back to"
            )
        return self.promote(
            name, target, alias, reason or f"rollback from version {current}", operation="rollback"
        )

    def set_initial_alias(self, name: str, version: int) -> str:
        """``champion`` for a model's first version, ``challenger`` for later ones; returns the alias."""
        has_champion = CHAMPION in self._model(name).aliases
        alias = CHALLENGER if has_champion else CHAMPION
        reason = "newly trained; awaits promotion" if has_champion else "first version of the model"
        self.promote(name, version, alias, reason, operation="register")
        return alias


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
