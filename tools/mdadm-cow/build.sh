#!/bin/bash
# Build mdadm with the md-cow patch series.
#
#   tools/mdadm-cow/build.sh          build build/mdadm
#   tools/mdadm-cow/build.sh --each   check that every prefix of the series
#                                     (patches 1..k, for each k) applies and
#                                     builds; used by the lint test
#   tools/mdadm-cow/build.sh --force  rebuild even if nothing changed
#
# The pristine Debian source (build/src/mdadm-$MDADM_UPSTREAM_VERSION, from
# scripts/deps.sh) is copied to a fresh build/mdadm-src, the patches in
# tools/mdadm-cow/patches are applied in order with patch --fuzz=0, and
# "make mdadm" runs with Debian's hardening flags plus -Werror (upstream
# builds with -Werror; Debian's debian-no-Werror.diff drops it).
# Nothing is done when neither the patches, this script, the version pins
# nor the kernel's md-cow_p.h changed since the last successful run.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$TOP/tools/mdadm-cow"
B="$TOP/build"
# shellcheck source=../../versions.env
. "$TOP/versions.env"
SRC="$B/src/mdadm-$MDADM_UPSTREAM_VERSION"
KHDR="$TOP/drivers/md/md-cow_p.h"

each=0 force=0
for arg in "$@"; do
	case "$arg" in
	--each) each=1 ;;
	--force) force=1 ;;
	*) echo "usage: $0 [--each] [--force]" >&2; exit 2 ;;
	esac
done

die() { echo "mdadm-cow: $*" >&2; exit 1; }

shopt -s nullglob
PATCHES=("$HERE"/patches/[0-9][0-9][0-9][0-9]-*.patch)
shopt -u nullglob

# Everything the result depends on, besides the pristine source.
inputs_hash() {
	{
		echo "mode=$1"
		cat "$0" "$TOP/versions.env"
		[ ! -f "$KHDR" ] || cat "$KHDR"
		for p in "${PATCHES[@]}"; do
			basename "$p"
			cat "$p"
		done
	} | sha256sum | cut -d' ' -f1
}

if [ $each = 1 ]; then
	STAMP="$B/mdadm-each.stamp"
	OUT="$B/mdadm-each"
else
	STAMP="$B/mdadm.stamp"
	OUT="$B/mdadm-src"
fi
WANT=$(inputs_hash $each)
if [ $force = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] &&
   { [ $each = 1 ] || [ -x "$B/mdadm" ]; }; then
	exit 0
fi

if [ ! -d "$SRC" ]; then
	"$TOP/scripts/deps.sh"
	[ -d "$SRC" ] || die "pristine mdadm source $SRC is missing"
fi

# Debian's flags (debian/rules), plus upstream's -Werror.
if command -v dpkg-buildflags > /dev/null; then
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	CXFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
	LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
else
	CXFLAGS="-O2"
	LDFLAGS=""
fi
CXFLAGS="$CXFLAGS -Werror"

# Through ccache where there is one (the series' prefixes are the same from
# one run to the next, so --each mostly hits).
. "$TOP/scripts/ccache-env"
CC="${MDCOW_CCACHE:+ccache }gcc"

run_make() {
	local log="$OUT/build.log"

	if ! make -C "$OUT" -j2 mdadm DEBIAN=yes CC="$CC" \
	     EXTRAVERSION="Debian $MDADM_PKG_VERSION, md-cow" \
	     CXFLAGS="$CXFLAGS" LDFLAGS="$LDFLAGS" > "$log" 2>&1; then
		cat "$log" >&2
		die "build failed$1"
	fi
}

apply_patch() {
	local p=$1

	if ! patch -d "$OUT" -p1 --fuzz=0 --forward --no-backup-if-mismatch \
	     -s < "$p"; then
		die "patch $(basename "$p") does not apply"
	fi
}

# The kernel's md-cow_p.h is authoritative: mdadm's copy must describe the
# same bytes.  Every structure field and COW_* constant of the kernel header
# is printed (offset and size, or value) through each header, and compared.
check_header() {
	local tree=$1 tmp

	[ -f "$KHDR" ] || { echo "mdadm-cow: $KHDR missing, format check skipped" >&2; return 0; }
	tmp=$(mktemp -d)
	perl -ne '
		if (/^struct (\w+) \{/) { $s = $1; print "S($s);\n"; next }
		if ($s && /^\}/) { $s = ""; next }
		print "F($s, $1);\n" if $s && /^\s+__(?:le|be|u|s)\d+\s+(\w+)/;
		print "C($1);\n" if /^#define\s+(COW_\w+)\s/;
	' "$KHDR" > "$tmp/fields.h"
	cat > "$tmp/layout.c" <<-'EOF'
	#include <stdio.h>
	#include <stddef.h>
	#include HDR
	#define S(s) printf("sizeof " #s " %zu\n", sizeof(struct s))
	#define F(s, f) printf(#s "." #f " %zu %zu\n", offsetof(struct s, f), \
			       sizeof(((struct s *)0)->f))
	#define C(c) printf(#c " %llu\n", (unsigned long long)(c))
	int main(void)
	{
	#include "fields.h"
		return 0;
	}
	EOF
	# the kernel's <linux/bits.h> is not in the uapi headers
	mkdir -p "$tmp/inc/linux"
	cat > "$tmp/inc/linux/bits.h" <<-'EOF'
	#define BIT_ULL(nr) (1ULL << (nr))
	#define GENMASK_ULL(h, l) ((~0ULL << (l)) & (~0ULL >> (63 - (h))))
	EOF
	if ! { gcc -o "$tmp/kernel" -I"$tmp/inc" -D'HDR="'"$KHDR"'"' \
		   -D'__packed=__attribute__((packed))' "$tmp/layout.c" &&
	       gcc -o "$tmp/mdadm" -D'HDR="'"$tree/md_cow_p.h"'"' "$tmp/layout.c" &&
	       "$tmp/kernel" > "$tmp/kernel.txt" &&
	       "$tmp/mdadm" > "$tmp/mdadm.txt"; }; then
		rm -rf "$tmp"
		die "md_cow_p.h in mdadm lacks fields or constants of $KHDR"
	fi
	if ! diff -u "$tmp/kernel.txt" "$tmp/mdadm.txt" >&2; then
		rm -rf "$tmp"
		die "md_cow_p.h in mdadm differs from $KHDR"
	fi
	echo "mdadm-cow: md_cow_p.h matches $KHDR ($(grep -c . "$tmp/kernel.txt") items)"
	rm -rf "$tmp"
}

[ ${#PATCHES[@]} -gt 0 ] || die "no patches in $HERE/patches"
rm -f "$STAMP"
rm -rf "$OUT"
mkdir -p "$OUT"
cp -a "$SRC/." "$OUT/"	# the contents: never patch the pristine tree

if [ $each = 1 ]; then
	# Patch k is applied on top of the tree that just built with 1..k-1;
	# make rebuilds what changed (every object depends on mdadm.h etc.).
	for p in "${PATCHES[@]}"; do
		apply_patch "$p"
		run_make " with patches up to $(basename "$p")"
		echo "mdadm-cow: builds with patches up to $(basename "$p")"
	done
	check_header "$OUT"
	rm -rf "$OUT"
else
	for p in "${PATCHES[@]}"; do
		apply_patch "$p"
	done
	run_make ""
	check_header "$OUT"
	install -m 0755 "$OUT/mdadm" "$B/mdadm.tmp"
	mv "$B/mdadm.tmp" "$B/mdadm"
	echo "mdadm-cow: built $B/mdadm ($("$B/mdadm" --version 2>&1))"
fi
echo "$WANT" > "$STAMP"
