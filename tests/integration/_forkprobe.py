"""A stand-in command for the fork server's own tests: reports what its process looks like, then does
what its first argument says (``exit N``, ``raise``, ``sleep PIDFILE``, ``crlf``, ``thread FILE``,
``loggers``)."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def main() -> None:
    state = {
        "pid": os.getpid(),
        "cwd": str(Path.cwd()),
        "argv": sys.argv,
        "probe": os.environ.get("PROBE"),
        "random": random.random(),
        "numpy": float(np.random.random()),
        "stdin": sys.stdin.read(),
        "umask": os.umask(0o022),
    }
    print(json.dumps(state))
    what = sys.argv[1:2]
    if what == ["exit"]:
        sys.exit(int(sys.argv[2]))
    if what == ["raise"]:
        raise ValueError("the probe was asked to fail")
    if what == ["sleep"]:
        child = subprocess.Popen(["sleep", "120"])
        Path(sys.argv[2]).write_text(str(child.pid))
        time.sleep(120)
    if what == ["crlf"]:
        sys.stdout.write("one\r\ntwo\r")
        sys.stderr.write("stderr line\n")
    if what == ["thread"]:  # a non-daemon thread still working when main() returns
        threading.Thread(target=_write_later, args=(Path(sys.argv[2]),)).start()
    if what == ["loggers"]:  # how MLflow's loggers are set up once molops has imported it
        from molops.tracking._mlflow import mlflow

        mlflow()
        loggers = {}
        for name in ("mlflow", "sqlalchemy.engine", "alembic"):
            logger = logging.getLogger(name)
            loggers[name] = [logger.level, logger.propagate, [type(h).__name__ for h in logger.handlers]]
        print(json.dumps(loggers))


def _write_later(path: Path) -> None:
    time.sleep(0.5)
    path.write_text("written")
