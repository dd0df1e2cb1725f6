#!/usr/bin/env bash
# Build the molops image FROM the local base that build-base.sh made.
#
#   sudo deploy/docker/build-base.sh && sudo deploy/docker/build.sh    # -> localhost/molops:VERSION
#
# The wheelhouse is made here, with this machine's pip and its index (a Python 3.11 on linux
# x86_64, like the image's): molops's wheel and every package of requirements.lock, no more. The
# image build then installs from it with --no-index, so it needs no network. A package that
# pyproject.toml needs but the lock lacks fails the build (`pip check`): run lock.sh again.
#
# Environment: MOLOPS_IMAGE (tag), MOLOPS_BASE_IMAGE, PYTHON (default .venv/bin/python),
# CONTAINERS_CONF (default: deploy/docker/containers.conf, see there).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-.venv/bin/python}"
BASE="${MOLOPS_BASE_IMAGE:-localhost/molops-base:bookworm}"
VERSION=$("$PYTHON" -c 'import re, pathlib; print(re.search(r"__version__ = \"(.+)\"", pathlib.Path("src/molops/_version.py").read_text())[1])')
TAG="${MOLOPS_IMAGE:-localhost/molops:${VERSION}}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/docker/containers.conf}"

command -v buildah >/dev/null || { echo "build.sh: buildah is not installed (apt-get install buildah)" >&2; exit 2; }
buildah inspect --type image "$BASE" >/dev/null 2>&1 ||
    { echo "build.sh: base image $BASE not found; run deploy/docker/build-base.sh first" >&2; exit 2; }

# The dependencies' wheelhouse is kept per lock (build/ is ignored by git): the same lock gives the
# same files, so the image's dependency layer comes from the build cache.
mkdir -p build
lock_sum=$(sha256sum deploy/docker/requirements.lock | cut -c1-16)
WHEELS="build/wheelhouse-$lock_sum"
if [[ ! -f "$WHEELS/.complete" ]]; then
    echo "build.sh: wheelhouse for requirements.lock ($WHEELS)" >&2
    rm -rf "$WHEELS"
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELS" -r deploy/docker/requirements.lock \
        2> >(grep -v "is ignored: it is neither a file" >&2)
    touch "$WHEELS/.complete"
fi
CONTEXT=$(mktemp -d "$PWD/build/image-context.XXXXXX")
trap 'rm -rf "$CONTEXT"' EXIT
cp deploy/docker/requirements.lock "$CONTEXT/"
cp -rl "$WHEELS" "$CONTEXT/wheels" 2>/dev/null || cp -r "$WHEELS" "$CONTEXT/wheels"
rm -f "$CONTEXT/wheels/.complete"
install -m 0755 deploy/steps/molops-step.sh "$CONTEXT/molops-step"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$CONTEXT/molops" . \
    2> >(grep -v "is ignored: it is neither a file" >&2)

# --isolation chroot: RUN steps need no OCI runtime, user namespace or network setup of their own.
buildah build --isolation chroot --format docker --layers \
    --build-arg "BASE_IMAGE=$BASE" --label "org.opencontainers.image.version=$VERSION" \
    -f deploy/docker/Dockerfile -t "$TAG" "$CONTEXT" >&2
echo "$TAG"
