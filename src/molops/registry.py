"""A small name → object registry; its keys become the CLI's choices (chemprop-style)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from molops.errors import MolopsError, UsageError

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


def build_params(
    params_cls: type[P], kind: str, name: str, values: dict[str, Any], error: type[MolopsError] = MolopsError
) -> P:
    """Validate a registered object's parameters; the error names the parameter and the choices."""
    try:
        return params_cls(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(params)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(params_cls.model_fields) or "none"
            msg = f"{kind} {name!r} has no parameter {key!r}; its parameters are: {allowed}"
        else:
            value = err.get("input")
            shown = repr(value)
            if len(shown) > 60:  # a whole JSON --params value would bury the message
                shown = shown[:57] + "..."
            msg = f"{kind} {name!r}: invalid value for {key!r}: {err['msg']} (got {shown})"
            if isinstance(value, str) and "=" in value:  # `morgan:radius=3:length=1024` read as one value
                msg += "; separate parameters with ',' (name:key=value,key=value)"
        raise error(msg) from None


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs) of one kind.

    >>> readers = Registry[str]("reader")
    >>> @readers.register("csv")
    ... def read_csv(): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            choices = ", ".join(sorted(self._items)) or "(none)"
            raise UsageError(f"unknown {self.kind} {name!r}; expected one of: {choices}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
