#!/bin/bash
# Install or remove md-cow's built files (make install / make uninstall).
#
#   scripts/install.sh install      (DESTDIR=D in the environment: stage there)
#   scripts/install.sh uninstall
#
# Layout (Debian's):
#   /lib/modules/$KVER/updates/md-cow.ko   the module (depmod when DESTDIR is empty)
#   /sbin/mdadm                             mdadm with the cow series
#   /lib/udev/rules.d/63-md-raid-arrays.rules   its udev rules (mdmonitor for
#   /lib/udev/rules.d/64-md-raid-assembly.rules cow arrays too)
#                                           With no DESTDIR, Debian's mdadm files
#                                           replaced are kept as FILE.distrib
#                                           (dpkg-divert) and come back at uninstall.
#   /usr/share/initramfs-tools/hooks/md-cow md-cow.ko, mdadm, its rules and
#                                           mdadm.conf in the initramfs
#   /usr/sbin/cow-tools, cow_check, ...     the admin tools
#   /usr/share/man/man8/cow*.8              their manual pages
#   /usr/share/md-cow/installed-files       what was installed, for uninstall
# Files are staged under build/install first; the list of installed files is
# what the stage holds, so uninstall removes exactly those.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$TOP/versions.env"
B="$TOP/build"
DESTDIR=${DESTDIR:-}
LIST=usr/share/md-cow/installed-files
# Files of Debian's mdadm package that ours replace.
RULES=/lib/udev/rules.d
DIVERTS=(/sbin/mdadm "$RULES/63-md-raid-arrays.rules" "$RULES/64-md-raid-assembly.rules")
die() { echo "install: $*" >&2; exit 1; }

install_files() {
	local stage="$B/install" ko="$B/kmod/md-cow.ko" f
	[ -f "$ko" ] || die "$ko is not built (make module)"
	[ -x "$B/mdadm" ] || die "$B/mdadm is not built (make mdadm)"
	[ -x "$B/tools/cow-tools" ] || die "the tools are not built (make tools)"
	rm -rf "$stage"
	install -D -m 644 "$ko" "$stage/lib/modules/$KVER/updates/md-cow.ko"
	install -D -m 755 "$B/mdadm" "$stage/sbin/mdadm"
	# mdadm's own "make install-udev" puts the path of mdadm in its rules.
	mkdir -p "$stage$RULES"
	sed 's,BINDIR,/sbin,g' "$B/mdadm-src/udev-md-raid-arrays.rules" > "$stage$RULES/63-md-raid-arrays.rules"
	sed 's,BINDIR,/sbin,g' "$B/mdadm-src/udev-md-raid-assembly.rules" > "$stage$RULES/64-md-raid-assembly.rules"
	install -D -m 755 "$TOP/tools/initramfs-tools/hook" "$stage/usr/share/initramfs-tools/hooks/md-cow"
	DESTDIR="$stage" cmake --install "$B/tools" --prefix /usr > /dev/null
	(cd "$stage" && find . ! -type d | sed 's,^\.,,' | LC_ALL=C sort) > "$B/install.list"
	echo "/$LIST" >> "$B/install.list"
	install -D -m 644 "$B/install.list" "$stage/$LIST"

	if [ -z "$DESTDIR" ]; then
		for f in "${DIVERTS[@]}"; do
			dpkg-divert --listpackage "$f" 2>/dev/null | grep -q md-cow && continue
			[ ! -e "$f" ] || dpkg-divert --package md-cow --add --rename --divert "$f.distrib" "$f"
		done
	fi
	mkdir -p "$DESTDIR/"
	# Files first, the list last: an interrupted install can be repeated.
	(cd "$stage" && find . ! -type d ! -path "./$LIST") | while read -r f; do
		mkdir -p "$DESTDIR/$(dirname "$f")"
		cp -a "$stage/$f" "$DESTDIR/$f.md-cow-new"
		mv -f "$DESTDIR/$f.md-cow-new" "$DESTDIR/$f"
	done
	mkdir -p "$DESTDIR/${LIST%/*}"
	cp "$stage/$LIST" "$DESTDIR/$LIST"
	if [ -z "$DESTDIR" ]; then
		[ ! -d "/lib/modules/$KVER" ] || depmod -a "$KVER"
		udevadm control --reload 2>/dev/null || true
		if command -v update-initramfs > /dev/null; then
			echo "install: run update-initramfs -u to put md-cow into the initramfs (root on a cow array)"
		fi
	fi
	echo "installed $(wc -l < "$stage/$LIST") files under ${DESTDIR:-/}"
}

# rmdir_up DIR: remove DIR and its parents under DESTDIR while they are empty.
rmdir_up() {
	local d=$1
	while [ "$d" != / ] && rmdir "$DESTDIR$d" 2>/dev/null; do d=$(dirname "$d"); done
}

uninstall_files() {
	local f n=0
	[ -f "$DESTDIR/$LIST" ] || die "nothing to uninstall: no $DESTDIR/$LIST"
	while read -r f; do
		[ "$f" != "/$LIST" ] || continue
		if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
			rm -f "$DESTDIR$f"
			n=$((n + 1))
		fi
		# Directories left empty by us go too (never / or a system one
		# that still holds something).
		rmdir_up "$(dirname "$f")"
	done < "$DESTDIR/$LIST"
	rm -f "$DESTDIR/$LIST"
	rmdir_up "/${LIST%/*}"
	if [ -z "$DESTDIR" ]; then
		for f in "${DIVERTS[@]}"; do
			dpkg-divert --listpackage "$f" 2>/dev/null | grep -q md-cow || continue
			dpkg-divert --package md-cow --remove --rename --divert "$f.distrib" "$f"
		done
		udevadm control --reload 2>/dev/null || true
		[ ! -d "/lib/modules/$KVER" ] || depmod -a "$KVER"
	fi
	echo "removed $n files from ${DESTDIR:-/}"
}

case "${1:-}" in
install) install_files ;;
uninstall) uninstall_files ;;
*) echo "usage: $0 install|uninstall   (DESTDIR=D to stage elsewhere)" >&2; exit 2 ;;
esac
