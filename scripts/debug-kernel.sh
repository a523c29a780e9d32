#!/bin/bash
# Build the md-cow debug kernel: the pinned kernel source (linux-source, the
# same version the tests boot) with tests/vm/debug-kernel.config merged over
# x86_64_defconfig and kvm_guest.config: KASAN, lockdep, atomic-sleep
# checks, kmemleak, UBSAN and fault injection, every driver the tests use
# built in.  Then md-cow.ko against it.
#
# The kernel is expensive (about 20 minutes on two cores) and its inputs
# rarely change, so it is cached outside the tree, keyed by a hash of the
# kernel version, the config fragment and RECIPE (raise it when the build
# steps below change what is built):
#   ${MDCOW_CACHE:-/var/cache/md-cow}/debug-kernel-HASH/
#       boot/vmlinuz-KVER, lib/modules/KVER/ (modules.builtin...), obj/ (the
#       build tree for external modules), kver
# build/kernel-debug points at it; build/kmod-debug/md-cow.ko is the module.
# Usage: scripts/debug-kernel.sh [--print-dir]
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$TOP/versions.env"
B="$TOP/build"
CACHE=${MDCOW_CACHE:-/var/cache/md-cow}
FRAG="$TOP/tests/vm/debug-kernel.config"
die() { echo "debug-kernel: $*" >&2; exit 1; }

RECIPE=1
hash=$(cat <(echo "$KPKG_VERSION recipe $RECIPE") "$FRAG" | sha256sum | cut -c1-16)
OUT="$CACHE/debug-kernel-$hash"
if [ "${1:-}" = --print-dir ]; then echo "$OUT"; exit 0; fi

need=()
for p in flex bison libelf-dev libssl-dev bc; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "debug-kernel: installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
		die "cannot install ${need[*]}"
fi

if [ ! -f "$OUT/done" ]; then
	start=$(date +%s)
	SRC="$CACHE/src-$KPKG_VERSION"
	if [ ! -f "$SRC/.unpacked" ]; then
		tarball=/usr/src/linux-source-6.12.tar.xz
		[ -f "$tarball" ] || die "$tarball missing (scripts/deps.sh installs linux-source)"
		rm -rf "$SRC" "$SRC.tmp"
		mkdir -p "$SRC.tmp"
		echo "debug-kernel: unpacking $tarball" >&2
		tar -C "$SRC.tmp" -xJf "$tarball"
		mv "$SRC.tmp"/linux-source-* "$SRC"
		rm -rf "$SRC.tmp"
		touch "$SRC/.unpacked"
	fi
	rm -rf "$OUT"
	mkdir -p "$OUT/obj"
	mk() { make -C "$SRC" O="$OUT/obj" -j"$(nproc)" "$@"; }
	mk x86_64_defconfig >/dev/null
	mk kvm_guest.config >/dev/null
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT/obj" "$OUT/obj/.config" "$FRAG" >/dev/null
	mk olddefconfig >/dev/null
	# Every line of the fragment must have survived olddefconfig.
	while read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF "$line" "$OUT/obj/.config" || die "config: $line did not stick" ;;
		"# CONFIG_"*" is not set")
			opt=${line#"# "}; opt=${opt%% *}
			! grep -q "^$opt=" "$OUT/obj/.config" || die "config: $opt is still set" ;;
		esac
	done < "$FRAG"
	echo "debug-kernel: building in $OUT/obj (takes a while)" >&2
	mk bzImage modules > "$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log"; die "kernel build failed"; }
	kver=$(make -s -C "$SRC" O="$OUT/obj" kernelrelease)
	mkdir -p "$OUT/boot"
	cp "$OUT/obj/arch/x86/boot/bzImage" "$OUT/boot/vmlinuz-$kver"
	mk INSTALL_MOD_PATH="$OUT" modules_install > /dev/null
	mkdir -p "$OUT/lib/modules/$kver/kernel"
	echo "$kver" > "$OUT/kver"
	echo "debug-kernel: $kver built in $(( $(date +%s) - start )) s" >&2
	touch "$OUT/done"
	# Older builds are of no more use.
	find "$CACHE" -maxdepth 1 -name 'debug-kernel-*' ! -path "$OUT" -exec rm -rf {} +
fi
ln -sfn "$OUT" "$B/kernel-debug"

# md-cow.ko against the debug kernel (md's private headers from its source).
kver=$(cat "$OUT/kver")
SRC="$CACHE/src-$KPKG_VERSION"
KM="$B/kmod-debug"
mkdir -p "$KM/drivers/md"
cp -p "$TOP/Kbuild" "$KM/Kbuild"
cp -p "$TOP"/drivers/md/Kbuild "$TOP"/drivers/md/*.c "$TOP"/drivers/md/*.h "$KM/drivers/md/"
mkdir -p "$KM/tests/kmod"
cp -p "$TOP"/tests/kmod/Kbuild "$TOP"/tests/kmod/*.c "$KM/tests/kmod/"
make -C "$OUT/obj" M="$KM" MD_PRIV_INC="$SRC/drivers/md" W=1 modules > "$KM/build.log" 2>&1 ||
	{ cat "$KM/build.log"; die "md-cow.ko does not build against $kver"; }
cp -p "$KM/drivers/md/md-cow.ko" "$KM/md-cow.ko"
echo "debug-kernel: $kver, $KM/md-cow.ko" >&2
