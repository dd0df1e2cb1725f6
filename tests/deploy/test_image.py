"""The container image as an orchestrator runs it: built from Debian's packages by
deploy/docker/build-base.sh and build.sh, it trains a model and serves it as the non-root user on a
read-only root filesystem, answers /readyz and a prediction, passes its own HEALTHCHECK, and stops
on SIGTERM; with its CPU torch (the gnn extra), a D-MPNN trains and predicts in it too; and the
loop's step script (deploy/steps/molops-step.sh, what the Kubeflow pipeline's pods run) is on its PATH.

Building takes minutes (see deploy/README.md), so ``make test`` skips this with that reason unless
``MOLOPS_IMAGE_TEST=1``; .ci/run and .github/workflows/image.yml set it, together with
``MOLOPS_REQUIRE_CONTAINERS=1``: there, a missing tool or a container runtime that cannot start a
container fails the test instead of skipping it. ``MOLOPS_IMAGE=TAG`` tests an image already built.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from _wait import wait_until

# building the image alone takes minutes (deploy/README.md gives the figures)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
BASE = os.environ.get("MOLOPS_BASE_IMAGE", "localhost/molops-base:bookworm")
#: The image's non-root user (deploy/docker/Dockerfile).
UID = 10001
PARAMS = '{"n_estimators": 20}'


def _unavailable(reason: str) -> None:
    """Skip, loudly and with the reason, unless the run requires containers (CI): then fail."""
    if os.environ.get("MOLOPS_REQUIRE_CONTAINERS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(DOCKER / "containers.conf"))
    return env


def _run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def image() -> str:
    """The image's tag: built here (base first, if missing) unless MOLOPS_IMAGE names one."""
    if os.environ.get("MOLOPS_IMAGE_TEST") != "1" and not os.environ.get("MOLOPS_IMAGE"):
        pytest.skip(
            "building the image takes minutes (deploy/README.md); set MOLOPS_IMAGE_TEST=1 to run it "
            "(.ci/run and .github/workflows/image.yml do)"
        )
    for tool in ("podman", "buildah", "debootstrap", "runc"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (apt-get install debootstrap buildah podman runc)")
    if os.geteuid() != 0:
        _unavailable("debootstrap and the root container engine this test uses need root")
    if _run("podman", "image", "exists", BASE, check=False).returncode != 0:
        _run(str(DOCKER / "build-base.sh"), timeout=1200)
    probe = _run("podman", "run", "--rm", BASE, "true", check=False)
    if probe.returncode != 0:
        _unavailable(f"the container runtime cannot start a container here: {probe.stderr.strip()}")
    if os.environ.get("MOLOPS_IMAGE"):
        return os.environ["MOLOPS_IMAGE"]
    built = _run(str(DOCKER / "build.sh"), timeout=3600)
    return built.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _molops(image: str, workspace: Path, *args: str, timeout: float = 600, detach: bool = False,
            env: dict[str, str] | None = None, entrypoint: str | None = None,
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``molops ARGS`` in the image as Kubernetes runs it: read-only root, writable workspace, /tmp, HOME
    (or *entrypoint* ARGS, as a pod whose command replaces the image's entrypoint)."""
    # no healthcheck timer (it needs systemd): the test runs the check itself
    options = ["--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/home/molops:rw,mode=1777",
               "-v", f"{workspace}:/workspace", "--health-interval", "disable"]  # fmt: skip
    if entrypoint:
        options += ["--entrypoint", entrypoint]
    for name, value in (env or {}).items():
        options += ["-e", f"{name}={value}"]
    if detach:
        options += ["-d", "--name", f"molops-test-{uuid.uuid4().hex[:8]}"]
    else:
        options.append("--rm")
    return _run("podman", "run", *options, image, *args, timeout=timeout)


@pytest.fixture(scope="module")
def trained(image, tmp_path_factory) -> Path:
    """A workspace with one FreeSolv forest, made by the image's own molops."""
    workspace = tmp_path_factory.mktemp("image-ws")
    workspace.chmod(0o777)  # the image's user (uid 10001) writes here
    _molops(image, workspace, "init", "/workspace")
    _molops(image, workspace, "data", "ingest", "--builtin", "freesolv", "--json")
    _molops(image, workspace, "train", "-d", "freesolv", "-m", "rf", "--params", PARAMS, "--json")
    return workspace


@pytest.fixture
def served(image, trained) -> Iterator[tuple[str, str]]:
    """``molops serve`` running detached in the image: (container name, base URL)."""
    port = _free_port()
    started = _molops(image, trained, "serve", "--host", "127.0.0.1", "--port", str(port), detach=True,
                      env={"MOLOPS_SERVE__PORT": str(port)})  # fmt: skip
    name = started.stdout.strip()
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        _run("podman", "rm", "-f", "-t", "5", name, check=False)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_image_runs_as_non_root_with_a_readiness_healthcheck(image):
    inspected = json.loads(_run("podman", "image", "inspect", image).stdout)[0]
    assert inspected["Config"]["User"] == f"{UID}:{UID}"
    assert inspected["Config"]["Entrypoint"][-1] == "molops"
    # kept only in the Docker image format (build.sh: --format docker); podman lists it apart
    assert "/readyz" in " ".join(inspected["Healthcheck"]["Test"])


def test_serve_in_the_image_gets_ready_predicts_and_stops_on_sigterm(image, served):
    name, url = served
    wait_until(lambda: _ready(url), 300, f"{url}/readyz to answer 200")
    answer = httpx.post(url + "/v1/predict", json={"smiles": ["CCO"]}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()["results"][0]["mean"], float)
    # the image's own HEALTHCHECK (the Dockerfile's) passes against the running service
    assert _run("podman", "healthcheck", "run", name, check=False).returncode == 0
    assert _run("podman", "exec", name, "id", "-u").stdout.strip() == str(UID)
    _run("podman", "stop", "-t", "60", name, timeout=90)
    state = json.loads(_run("podman", "inspect", name).stdout)[0]["State"]
    # tini passes SIGTERM on; uvicorn shuts down and re-raises it (128 + 15), or exits 0
    assert state["ExitCode"] in (0, 143), state


def test_the_image_trains_and_predicts_with_a_dmpnn(image, trained):
    """The image carries the gnn extra (CPU torch, chemprop): a D-MPNN trains and predicts in it."""
    tiny = '{"n_members": 2, "epochs": 3, "hidden": 32, "ffn_hidden": 32, "accelerator": "cpu"}'
    _molops(image, trained, "train", "-d", "freesolv", "-m", "dmpnn", "--params", tiny, "--name", "fs-dmpnn",
            "--json")  # fmt: skip
    (trained / "dmpnn-in.csv").write_text("smiles\nCCO\nc1ccccc1O\n")
    _molops(image, trained, "predict", "/workspace/dmpnn-in.csv", "/workspace/dmpnn-out.csv",
            "-m", "fs-dmpnn", "--json")  # fmt: skip
    predicted = pd.read_csv(trained / "dmpnn-out.csv")
    assert predicted["smiles"].tolist() == ["CCO", "c1ccccc1O"]
    assert predicted["mean"].notna().all() and (predicted["std"] > 0).all()
    assert set(predicted["model_name"]) == {"fs-dmpnn"}


def test_the_loop_steps_run_in_the_image(image, tmp_path):
    """The Kubeflow pipeline's pods run ``molops-step STEP`` (deploy/steps/molops-step.sh, installed by
    the Dockerfile) with the image's molops: on an empty volume it makes the workspace, and with no
    drop file it has nothing to ingest."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    workspace.chmod(0o777)  # the image's user (uid 10001) writes here
    _molops(image, workspace, "init", "--workspace", "/workspace", entrypoint="molops-step")
    assert (workspace / "molops.toml").is_file()
    step = ["ingest", "--workspace", "/workspace", "--dataset", "d", "--target", "y"]
    step += ["--drop", "incoming/results.csv"]
    done = _molops(image, workspace, *step, entrypoint="molops-step")
    assert done.stdout == "no lab results at 'incoming/results.csv': nothing to ingest\n"
