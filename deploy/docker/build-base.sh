#!/usr/bin/env bash
# Bootstrap the image's base from Debian's packages: no container registry is needed (none is
# reachable where molops is built here). debootstrap fetches a minimal bookworm from the Debian
# mirror this machine's apt already uses, and podman imports that root filesystem as a local image.
#
#   sudo deploy/docker/build-base.sh            # -> localhost/molops-base:bookworm
#
# Environment: MOLOPS_BASE_IMAGE (the tag), MOLOPS_DEBIAN_MIRROR (default: from /etc/apt/sources.list*).
# Needs root, debootstrap and podman (Debian: apt-get install debootstrap podman buildah).
set -euo pipefail

SUITE=bookworm
TAG="${MOLOPS_BASE_IMAGE:-localhost/molops-base:${SUITE}}"

# The mirror apt uses for the main suite: deb822 "URIs:" lines first, then one-line "deb" entries.
detect_mirror() {
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
    local uri
    uri=$(awk '/^URIs:/ {print $2}' "${files[@]}" 2>/dev/null | grep -v -- '-security' | grep -m1 '/debian/\?$' || true)
    if [[ -z "$uri" ]]; then
        uri=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" {print $2}' "${files[@]}" 2>/dev/null | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR="${MOLOPS_DEBIAN_MIRROR:-$(detect_mirror)}"
MIRROR="${MIRROR%/}"
SECURITY="${MIRROR%/debian}/debian-security"

for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { echo "build-base.sh: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done
[[ $EUID -eq 0 ]] || { echo "build-base.sh: debootstrap needs root; run it with sudo" >&2; exit 2; }

ROOTFS=$(mktemp -d /var/tmp/molops-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "build-base.sh: debootstrap $SUITE from $MIRROR" >&2
# Debian's archive key (the debian-archive-keyring package), also where the host is not Debian
keyring=()
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
debootstrap --variant=minbase --include=ca-certificates --components=main "${keyring[@]}" \
    "$SUITE" "$ROOTFS" "$MIRROR" >&2

cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
SOURCES
# An image carries no package lists, caches or logs of the machine that made it.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/* "$ROOTFS"/tmp/*

tar --numeric-owner -C "$ROOTFS" -c . |
    podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$TAG" >&2
echo "$TAG"
