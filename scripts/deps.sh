#!/bin/bash
# Install everything md-cow needs to build and test, from Debian's packages.
# Idempotent and fast when everything is already there (a stamp records the
# pins that were satisfied). Usage: scripts/deps.sh [--force]
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$TOP/versions.env"
B="$TOP/build"
mkdir -p "$B/deps"
STAMP="$B/deps/stamp"
WANT="$(cat "$TOP/versions.env" "$0" | sha256sum | cut -d' ' -f1)"

if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] &&
   [ -e "$B/kernel/boot/vmlinuz-$KVER" ] && [ -d "/lib/modules/$KVER/build" ] &&
   [ -f "$B/md-include/md.h" ] && [ -d "$B/src/mdadm-$MDADM_UPSTREAM_VERSION" ]; then
	exit 0
fi

die() { echo "deps: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

PKGS=(build-essential bc kmod cpio gzip xz-utils dpkg-dev fakeroot
      qemu-system-x86 qemu-utils busybox-static fio e2fsprogs udev
      libudev-dev groff-base po-debconf debhelper
      cmake g++ libgtest-dev clang-14 libfuzzer-14-dev
      dmsetup lvm2 thin-provisioning-tools util-linux libaio-dev zlib1g-dev shellcheck
      ccache)

# deb-src for mdadm's source package
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
	cat > /etc/apt/sources.list.d/md-cow-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	rm -f "$B/deps/apt-updated"
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
hdr="linux-headers-$KVER"
dpkg-query -W -f='${Version}' "$hdr" 2>/dev/null | grep -qxF "$KPKG_VERSION" || missing+=("$hdr=$KPKG_VERSION")
dpkg-query -W -f='${Version}' "$KSRC_PKG" 2>/dev/null | grep -qxF "$KPKG_VERSION" || missing+=("$KSRC_PKG=$KPKG_VERSION")

if [ ${#missing[@]} -gt 0 ] || [ ! -f "$B/deps/apt-updated" ]; then
	echo "deps: apt-get update" >&2
	apt-get update -qq || die "apt-get update failed"
	touch "$B/deps/apt-updated"
fi
if [ ${#missing[@]} -gt 0 ]; then
	for p in "${missing[@]}"; do
		case "$p" in *=*)
			apt-cache madison "${p%%=*}" | awk '{print $3}' | grep -qxF "${p#*=}" ||
				die "pinned package ${p%%=*} version ${p#*=} is not available from the configured Debian archives"
		esac
	done
	echo "deps: installing ${missing[*]}" >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
fi

# Kernel image and modules, unpacked (not installed: no update-initramfs).
if [ ! -e "$B/kernel/boot/vmlinuz-$KVER" ]; then
	img="linux-image-$KVER"
	apt-cache madison "$img" | awk '{print $3}' | grep -qxF "$KPKG_VERSION" ||
		die "pinned package $img version $KPKG_VERSION is not available"
	rm -rf "$B/kernel.tmp" && mkdir -p "$B/kernel.tmp"
	(cd "$B/kernel.tmp" && apt-get download -qq "$img=$KPKG_VERSION") || die "cannot download $img=$KPKG_VERSION"
	dpkg-deb -x "$B"/kernel.tmp/*.deb "$B/kernel.tmp/root"
	rm -rf "$B/kernel" && mv "$B/kernel.tmp/root" "$B/kernel" && rm -rf "$B/kernel.tmp"
fi

# md's private headers and checkpatch from linux-source of the same version.
if [ ! -f "$B/md-include/md.h" ] || [ ! -f "$B/checkpatch/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null) || die "linux-source tarball missing"
	rm -rf "$B/ksrc.tmp" && mkdir -p "$B/ksrc.tmp"
	tar -C "$B/ksrc.tmp" -xJf "$tarball" --wildcards \
		'*/drivers/md/md.h' '*/drivers/md/md-bitmap.h' '*/drivers/md/md-cluster.h' \
		'*/drivers/md/raid1.c' '*/drivers/md/raid1.h' '*/drivers/md/raid1-10.c' '*/drivers/md/md.c' \
		'*/drivers/md/dm-clone-metadata.c' '*/drivers/md/dm-clone-target.c' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	d=$(ls -d "$B"/ksrc.tmp/linux-source-*)
	rm -rf "$B/md-include" "$B/checkpatch" "$B/ksrc-ref"
	mkdir -p "$B/md-include" "$B/checkpatch" "$B/ksrc-ref"
	cp "$d"/drivers/md/md.h "$d"/drivers/md/md-bitmap.h "$d"/drivers/md/md-cluster.h "$B/md-include/"
	cp "$d"/scripts/checkpatch.pl "$d"/scripts/spelling.txt "$d"/scripts/const_structs.checkpatch "$B/checkpatch/"
	cp "$d"/drivers/md/*.c "$d"/drivers/md/raid1.h "$B/ksrc-ref/"
	rm -rf "$B/ksrc.tmp"
fi

# mdadm's Debian source.
if [ ! -d "$B/src/mdadm-$MDADM_UPSTREAM_VERSION" ]; then
	rm -rf "$B/src.tmp" && mkdir -p "$B/src.tmp"
	(cd "$B/src.tmp" && apt-get source -qq "mdadm=$MDADM_PKG_VERSION" >/dev/null 2>&1) ||
		die "cannot fetch source package mdadm version $MDADM_PKG_VERSION"
	mkdir -p "$B/src"
	rm -rf "$B/src/mdadm-$MDADM_UPSTREAM_VERSION"
	mv "$B/src.tmp/mdadm-$MDADM_UPSTREAM_VERSION" "$B/src/" && rm -rf "$B/src.tmp"
fi

echo "$WANT" > "$STAMP"
