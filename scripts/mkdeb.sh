#!/bin/bash
# Build Debian packages of md-cow from the tree (make deb).
#
#   scripts/mkdeb.sh            (VERSION=V in the environment: that version;
#                                default 0.0+gitYYYYMMDD.N.HASH from HEAD: its
#                                commit date, the number of commits, its hash)
#
# Needs what make module, make mdadm and make tools built.  Packages are
# staged under build/deb/work/debian/PACKAGE and built with
# "dpkg-deb --build --root-owner-group" (no debhelper) into build/deb/:
#
#   md-cow-dkms_V_all.deb      the module's source for DKMS
#     /usr/src/md-cow-V/dkms.conf            BUILD_EXCLUSIVE_KERNEL: the
#                                            series of $KVER (md's private
#                                            headers change between series)
#     /usr/src/md-cow-V/Makefile, Kbuild     make KVER=K builds drivers/md/md-cow.ko
#     /usr/src/md-cow-V/drivers/md/          Kbuild, *.c, *.h of the tree
#     /usr/src/md-cow-V/md-include/          md.h, md-bitmap.h, md-cluster.h of
#                                            the pinned kernel's linux-source
#                                            (build/md-include; not in git)
#     postinst: dkms add, build and install for the installed kernels that
#     have headers (dkms's common.postinst, as dh_dkms does); prerm: dkms remove.
#     md-cow.ko lands in /lib/modules/K/updates/dkms.
#   mdadm-cow_V_ARCH.deb       mdadm with the cow series; Provides, Conflicts
#                              and Replaces Debian's mdadm
#     /sbin/mdadm, /lib/udev/rules.d/{01,63,64,69}-md-*.rules (BINDIR=/sbin as
#     mdadm's "make install-udev" does), mdadm's systemd units that need only
#     mdadm (/lib/systemd/system, system-shutdown), man pages md.4,
#     mdadm.conf.5, mdadm.8, md-cow's initramfs-tools hook (with an
#     update-initramfs trigger).  Not there: mdmon (external metadata: IMSM,
#     DDF), Debian's initramfs boot script, init scripts, cron jobs and
#     checkarray.
#   md-cow-tools_V_ARCH.deb    the admin tools as "cmake --install --prefix /usr"
#                              lays them out: /usr/sbin/cow-tools, cow_* links,
#                              /usr/share/man/man8/cow*.8.gz
#
# Every run starts from an empty stage; a run that fails leaves the .deb
# files of the last good run alone.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$TOP/versions.env"
B="$TOP/build"
OUT="$B/deb"
WORK="$OUT/work"
MAINTAINER=${DEB_MAINTAINER:-"md-cow maintainers <md-cow@localhost>"}
die() { echo "mkdeb: $*" >&2; exit 1; }
umask 022
export LC_ALL=C

# Packages this script runs programs of (dpkg-shlibdeps, strip, man page
# compression), installed as scripts/deps.sh does when missing.
# shellcheck source=../scripts/need-pkgs.sh
. "$TOP/scripts/need-pkgs.sh"
need_pkgs dpkg-dev binutils gzip

if [ -z "${VERSION:-}" ]; then
	git -C "$TOP" rev-parse -q --verify HEAD > /dev/null 2>&1 ||
		die "not a git checkout: give the version (make deb VERSION=V)"
	VERSION="0.0+git$(git -C "$TOP" log -1 --format=%cd --date=format:%Y%m%d).$(git -C "$TOP" rev-list --count HEAD).$(git -C "$TOP" rev-parse --short HEAD)"
fi
dpkg --validate-version "$VERSION" 2> /dev/null || die "'$VERSION' is not a valid Debian version"
ARCH=$(dpkg --print-architecture)
# The kernel series the module's sources and md's headers are for: 6.12.
KSERIES=$(echo "$KVER" | cut -d. -f1,2)
KSERIES_RE="^${KSERIES/./\\.}\\."

[ -f "$B/md-include/md.h" ] || die "$B/md-include is missing (scripts/deps.sh)"
[ -x "$B/mdadm" ] || die "$B/mdadm is not built (make mdadm)"
[ -f "$B/mdadm-src/Makefile" ] || die "$B/mdadm-src is missing (make mdadm)"
[ -x "$B/tools/cow-tools" ] || die "the tools are not built (make tools)"

rm -rf "$WORK"
mkdir -p "$WORK/debian"
# dpkg-shlibdeps reads debian/control.
printf 'Source: md-cow\n\nPackage: mdadm-cow\nArchitecture: any\n\nPackage: md-cow-tools\nArchitecture: any\n' \
	> "$WORK/debian/control"

# strip_exe FILE: drop debugging information, as dh_strip does for programs.
strip_exe() { strip --remove-section=.comment --remove-section=.note "$1"; }

# gzip_man DIR: compress the manual pages under DIR (links follow their target).
gzip_man() {
	local l t
	[ -d "$1" ] || return 0
	find "$1" -type f -name '*.[1-9]' -exec gzip -9n {} +
	find "$1" -type l -name '*.[1-9]' | while read -r l; do
		t=$(readlink "$l")
		ln -s "$t.gz" "$l.gz"
		rm "$l"
	done
}

# shlibs_of PKG FILE...: the Depends dpkg-shlibdeps computes for the dynamic
# executables among FILEs (statically linked ones need nothing).
shlibs_of() {
	local pkg=$1 f dyn=()
	shift
	for f in "$@"; do
		readelf -d "$f" 2> /dev/null | grep -q NEEDED && dyn+=("$f")
	done
	[ ${#dyn[@]} -gt 0 ] || return 0
	mkdir -p "$WORK/debian/$pkg/DEBIAN"	# dpkg-shlibdeps looks for it
	(cd "$WORK" && dpkg-shlibdeps -O "${dyn[@]#"$WORK/"}") |
		sed -n 's/^shlibs:Depends=//p'
}

# control PKG ARCH DEPENDS FIELDS...: DEBIAN/control, DEBIAN/md5sums.
control() {
	local pkg=$1 arch=$2 depends=$3 d="$WORK/debian/$1" size
	shift 3
	size=$(du -sk --apparent-size --exclude=DEBIAN "$d" | cut -f1)
	mkdir -p "$d/DEBIAN"
	{
		echo "Package: $pkg"
		echo "Version: $VERSION"
		echo "Architecture: $arch"
		echo "Maintainer: $MAINTAINER"
		echo "Installed-Size: $size"
		[ -z "$depends" ] || echo "Depends: $depends"
		printf '%s\n' "$@"
	} > "$d/DEBIAN/control"
	(cd "$d" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
		xargs -0 -r md5sum) > "$d/DEBIAN/md5sums"
	[ -s "$d/DEBIAN/md5sums" ] || rm "$d/DEBIAN/md5sums"
}

# script PKG NAME: DEBIAN/NAME from stdin, executable.
script() {
	install -D -m 755 /dev/stdin "$WORK/debian/$1/DEBIAN/$2"
}

# --- md-cow-dkms -----------------------------------------------------------
P=md-cow-dkms
S="$WORK/debian/$P/usr/src/md-cow-$VERSION"
mkdir -p "$S/drivers/md" "$S/md-include"
install -m 644 "$TOP"/drivers/md/Kbuild "$TOP"/drivers/md/*.c "$TOP"/drivers/md/*.h "$S/drivers/md/"
install -m 644 "$B"/md-include/md.h "$B"/md-include/md-bitmap.h "$B"/md-include/md-cluster.h "$S/md-include/"
cat > "$S/Kbuild" <<'EOF'
# SPDX-License-Identifier: GPL-2.0-only
obj-y += drivers/md/
EOF
cat > "$S/Makefile" <<'EOF'
# SPDX-License-Identifier: GPL-2.0-only
# md-cow.ko outside the kernel tree (DKMS runs this; by hand: make KVER=K).
# md's private headers (md.h and the two it includes) are in md-include/.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
MD_PRIV_INC ?= $(CURDIR)/md-include

all:
	$(MAKE) -C $(KDIR) M=$(CURDIR) MD_PRIV_INC=$(MD_PRIV_INC) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
EOF
cat > "$S/dkms.conf" <<EOF
PACKAGE_NAME="md-cow"
PACKAGE_VERSION="$VERSION"
BUILT_MODULE_NAME[0]="md-cow"
BUILT_MODULE_LOCATION[0]="drivers/md/"
DEST_MODULE_LOCATION[0]="/updates/dkms"
MAKE[0]="make KVER=\${kernelver} KDIR=\${kernel_source_dir} MD_PRIV_INC=\${dkms_tree}/\${PACKAGE_NAME}/\${PACKAGE_VERSION}/build/md-include"
CLEAN="make KVER=\${kernelver} KDIR=\${kernel_source_dir} clean"
AUTOINSTALL="yes"
# md's private headers in md-include/ are those of Linux $KSERIES.
BUILD_EXCLUSIVE_KERNEL='$KSERIES_RE'
EOF
mkdir -p "$WORK/debian/$P/usr/share/doc/$P"
cat > "$WORK/debian/$P/usr/share/doc/$P/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: md-cow

Files: usr/src/md-cow-$VERSION/*
License: GPL-2.0-only

Files: usr/src/md-cow-$VERSION/md-include/*
Comment: drivers/md of Linux ($KSRC_PKG $KPKG_VERSION)
License: GPL-2.0-only

License: GPL-2.0-only
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.
EOF
script "$P" postinst <<EOF
#!/bin/sh
# Add the source to DKMS, build and install md-cow.ko for the installed
# kernels that have headers (dkms's common.postinst, as dh_dkms does).
set -e
NAME=md-cow
VERSION=$VERSION
case "\$1" in
configure)
	if [ ! -x /usr/lib/dkms/common.postinst ]; then
		echo "md-cow-dkms: /usr/lib/dkms/common.postinst is missing: dkms is too old" >&2
		exit 1
	fi
	/usr/lib/dkms/common.postinst "\$NAME" "\$VERSION" "/usr/share/$P" "" "\$2"
	;;
esac
exit 0
EOF
script "$P" prerm <<EOF
#!/bin/sh
# Remove md-cow.ko of this version from every kernel and from DKMS.
set -e
NAME=md-cow
VERSION=$VERSION
case "\$1" in
remove|upgrade|deconfigure)
	if [ -n "\$(dkms status -m "\$NAME" -v "\$VERSION" 2>/dev/null)" ]; then
		dkms remove -m "\$NAME" -v "\$VERSION" --all
	fi
	;;
esac
exit 0
EOF
control "$P" all "dkms (>= 2.8)" \
	"Recommends: mdadm-cow" \
	"Suggests: md-cow-tools" \
	"Section: kernel" \
	"Priority: optional" \
	"Description: md \"cow\" personality: copy-on-write block devices (DKMS)" \
	" A cow array pairs a read-only origin (a golden image) with a writable" \
	" dirty device: unwritten chunks read from the origin, every write goes to" \
	" the dirty device.  Any number of cow arrays can share one origin." \
	" ." \
	" This package has the source of the kernel module md-cow.ko, built for" \
	" Linux $KSERIES kernels through DKMS (md's private headers of Linux" \
	" $KSERIES come with it).  mdadm-cow creates and assembles the arrays."

# --- mdadm-cow -------------------------------------------------------------
P=mdadm-cow
D="$WORK/debian/$P"
M="$B/mdadm-src"
install -D -m 755 "$B/mdadm" "$D/sbin/mdadm"
strip_exe "$D/sbin/mdadm"
# mdadm's "make install-udev"
for f in 01-md-raid-creating.rules 63-md-raid-arrays.rules 64-md-raid-assembly.rules \
         69-md-clustered-confirm-device.rules; do
	mkdir -p "$D/lib/udev/rules.d"
	sed 's,BINDIR,/sbin,g' "$M/udev-${f#??-}" > "$D/lib/udev/rules.d/$f"
	chmod 644 "$D/lib/udev/rules.d/$f"
done
# mdadm's "make install-systemd", less the units of what is not packaged
# (mdmon@.service: mdmon; mdcheck_*: Debian's mdcheck and checkarray).
for f in mdmonitor.service mdmonitor-oneshot.service mdmonitor-oneshot.timer \
         mdadm-last-resort@.service mdadm-last-resort@.timer mdadm-grow-continue@.service; do
	mkdir -p "$D/lib/systemd/system"
	sed 's,BINDIR,/sbin,g' "$M/systemd/$f" > "$D/lib/systemd/system/$f"
	chmod 644 "$D/lib/systemd/system/$f"
done
mkdir -p "$D/lib/systemd/system-shutdown"
sed 's,BINDIR,/sbin,g' "$M/systemd/mdadm.shutdown" > "$D/lib/systemd/system-shutdown/mdadm.shutdown"
chmod 755 "$D/lib/systemd/system-shutdown/mdadm.shutdown"
# mdadm.8 from mdadm.8.in, with the sed command and values of mdadm's Makefile
# (read from it: build/mdadm-src is make mdadm's, nothing is written there).
# shellcheck disable=SC2016 # $(...) and $* are make's
mk_var() {
	make -s --no-print-directory -C "$M" DEBIAN=yes -f Makefile \
		-f <(printf 'print-%%:\n\t@echo $($*)\n') "print-$1"
}
dm=$(mk_var DEFAULT_METADATA) mp=$(mk_var MAP_PATH)
if [ -z "$dm" ] || [ -z "$mp" ]; then
	die "cannot read DEFAULT_METADATA and MAP_PATH from $M/Makefile"
fi
mkdir -p "$D/usr/share/man/man8"
sed -e "s/{DEFAULT_METADATA}/$dm/g" -e "s,{MAP_PATH},$mp,g" "$M/mdadm.8.in" > "$D/usr/share/man/man8/mdadm.8"
install -D -m 644 "$M/mdadm.conf.5" "$D/usr/share/man/man5/mdadm.conf.5"
install -D -m 644 "$M/md.4" "$D/usr/share/man/man4/md.4"
gzip_man "$D/usr/share/man"
# md-cow's initramfs hook, and update-initramfs when the package changes
install -D -m 755 "$TOP/tools/initramfs-tools/hook" "$D/usr/share/initramfs-tools/hooks/md-cow"
mkdir -p "$D/DEBIAN"
echo "activate-noawait update-initramfs" > "$D/DEBIAN/triggers"
mkdir -p "$D/etc/mdadm"
install -D -m 644 "$M/debian/copyright" "$D/usr/share/doc/$P/copyright"
install -D -m 644 "$M/mdadm.conf-example" "$D/usr/share/doc/$P/examples/mdadm.conf-example"
mdadm_deps=$(shlibs_of "$P" "$D/sbin/mdadm")
control "$P" "$ARCH" "${mdadm_deps:+$mdadm_deps, }udev" \
	"Recommends: md-cow-dkms" \
	"Suggests: md-cow-tools" \
	"Provides: mdadm (= $MDADM_PKG_VERSION)" \
	"Conflicts: mdadm" \
	"Replaces: mdadm" \
	"Section: admin" \
	"Priority: optional" \
	"Description: tool to administer Linux MD arrays, with md-cow's cow level" \
	" Debian's mdadm $MDADM_PKG_VERSION with md-cow's patch series: --level=cow" \
	" creates, assembles, examines and monitors copy-on-write arrays of the" \
	" md-cow kernel module (md-cow-dkms); udev assembles them at boot in any" \
	" device order.  Every other level works as in Debian's mdadm." \
	" ." \
	" ." \
	" Its initramfs-tools hook puts mdadm, its udev rules, mdadm.conf, md-cow" \
	" and md's personalities into the initramfs, where udev assembles arrays" \
	" as their devices appear (root on a cow or raid array)." \
	" ." \
	" This package replaces Debian's mdadm.  It does not have mdmon (arrays" \
	" with external metadata: IMSM, DDF), Debian's initramfs boot script (it" \
	" starts degraded arrays after a timeout), init scripts, cron jobs or" \
	" checkarray."

# --- md-cow-tools ----------------------------------------------------------
P=md-cow-tools
D="$WORK/debian/$P"
DESTDIR="$D" cmake --install "$B/tools" --prefix /usr > /dev/null
strip_exe "$D/usr/sbin/cow-tools"
gzip_man "$D/usr/share/man"
tools_deps=$(shlibs_of "$P" "$D/usr/sbin/cow-tools")
control "$P" "$ARCH" "$tools_deps" \
	"Suggests: mdadm-cow, md-cow-dkms, lvm2" \
	"Section: admin" \
	"Priority: optional" \
	"Description: md-cow admin tools: check, dump, repair cow arrays' metadata" \
	" Tools for the dirty devices of md-cow's copy-on-write arrays, most of them" \
	" for stopped arrays: cow_check, cow_dump, cow_restore, cow_repair, cow_map," \
	" cow_delta, cow_ls (space and state of every array), cow_metadata_size," \
	" cow_rmap (which chunk a bad sector holds) and cow_grow (grows a dirty" \
	" device on LVM when mdadm's monitor finds it low, COW-GROW in mdadm.conf)."

# --- build -----------------------------------------------------------------
# All three are built before any replaces the last run's.
mkdir -p "$OUT"
debs=()
for P in md-cow-dkms mdadm-cow md-cow-tools; do
	arch=$(sed -n 's/^Architecture: //p' "$WORK/debian/$P/DEBIAN/control")
	deb="${P}_${VERSION}_$arch.deb"
	dpkg-deb --build --root-owner-group -Zxz "$WORK/debian/$P" "$WORK/$deb" > /dev/null ||
		die "dpkg-deb --build $P failed"
	debs+=("$deb")
done
for deb in "${debs[@]}"; do
	rm -f "$OUT/${deb%%_*}"_*.deb
	mv "$WORK/$deb" "$OUT/$deb"
	echo "mkdeb: $OUT/$deb ($(du -k "$OUT/$deb" | cut -f1) KiB)"
done
