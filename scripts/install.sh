#!/bin/bash
# Install or remove md-cow's built files (make install / make uninstall).
#
#   scripts/install.sh install      (DESTDIR=D in the environment: stage there)
#   scripts/install.sh uninstall
#
# Layout (Debian's):
#   /lib/modules/$KVER/updates/md-cow.ko   the module (depmod when DESTDIR is empty)
#   /sbin/mdadm                             mdadm with the cow series; with no
#                                           DESTDIR the distribution's binary is
#                                           kept as /sbin/mdadm.distrib (dpkg-divert)
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
DIVERT=/sbin/mdadm.distrib
die() { echo "install: $*" >&2; exit 1; }

install_files() {
	local stage="$B/install" ko="$B/kmod/md-cow.ko" f
	[ -f "$ko" ] || die "$ko is not built (make module)"
	[ -x "$B/mdadm" ] || die "$B/mdadm is not built (make mdadm)"
	[ -x "$B/tools/cow-tools" ] || die "the tools are not built (make tools)"
	rm -rf "$stage"
	install -D -m 644 "$ko" "$stage/lib/modules/$KVER/updates/md-cow.ko"
	install -D -m 755 "$B/mdadm" "$stage/sbin/mdadm"
	DESTDIR="$stage" cmake --install "$B/tools" --prefix /usr > /dev/null
	(cd "$stage" && find . ! -type d | sed 's,^\.,,' | LC_ALL=C sort) > "$B/install.list"
	echo "/$LIST" >> "$B/install.list"
	install -D -m 644 "$B/install.list" "$stage/$LIST"

	if [ -z "$DESTDIR" ] && ! dpkg-divert --listpackage /sbin/mdadm 2>/dev/null | grep -q md-cow; then
		[ ! -e /sbin/mdadm ] ||
			dpkg-divert --package md-cow --add --rename --divert "$DIVERT" /sbin/mdadm
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
	if [ -z "$DESTDIR" ] && [ -d "/lib/modules/$KVER" ]; then
		depmod -a "$KVER"
	fi
	echo "installed $(wc -l < "$stage/$LIST") files under ${DESTDIR:-/}"
}

uninstall_files() {
	local f d n=0
	[ -f "$DESTDIR/$LIST" ] || die "nothing to uninstall: no $DESTDIR/$LIST"
	while read -r f; do
		[ "$f" != "/$LIST" ] || continue
		if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
			rm -f "$DESTDIR$f"
			n=$((n + 1))
		fi
		# Directories left empty by us go too (never / or a system one
		# that still holds something).
		d=$(dirname "$f")
		while [ "$d" != / ] && rmdir "$DESTDIR$d" 2>/dev/null; do d=$(dirname "$d"); done
	done < "$DESTDIR/$LIST"
	rm -f "$DESTDIR/$LIST"
	d=/${LIST%/*}
	while [ "$d" != / ] && rmdir "$DESTDIR$d" 2>/dev/null; do d=$(dirname "$d"); done
	if [ -z "$DESTDIR" ]; then
		if dpkg-divert --listpackage /sbin/mdadm 2>/dev/null | grep -q md-cow; then
			dpkg-divert --package md-cow --remove --rename --divert "$DIVERT" /sbin/mdadm
		fi
		[ ! -d "/lib/modules/$KVER" ] || depmod -a "$KVER"
	fi
	echo "removed $n files from ${DESTDIR:-/}"
}

case "${1:-}" in
install) install_files ;;
uninstall) uninstall_files ;;
*) echo "usage: $0 install|uninstall   (DESTDIR=D to stage elsewhere)" >&2; exit 2 ;;
esac
