"""Running the ``molops`` entry point in process: exit status, stdout and stderr, no subprocess."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from molops.cli.main import main


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


Run = Callable[..., Outcome]


@pytest.fixture
def run(monkeypatch, capsys) -> Run:
    """``run(*argv)``: what ``molops ARGV`` exits with and prints (main()'s error handling included)."""

    def _run(*argv: Any) -> Outcome:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["molops", *(str(a) for a in argv)])
        with pytest.raises(SystemExit) as exc:
            main()
        captured = capsys.readouterr()
        code = exc.value.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        return Outcome(status, captured.out, captured.err)

    return _run


def list_models(monkeypatch: pytest.MonkeyPatch, *rows: dict[str, Any]) -> None:
    """``molops models list`` lists *rows* (the registry's own entries) without a tracking store."""
    from molops.cli import models

    class _Registry:
        tracking_uri = "sqlite:///x.db"

        def list(self) -> list[dict[str, Any]]:
            return list(rows)

    monkeypatch.setattr(models, "_registry", lambda ctx, workspace: _Registry())
