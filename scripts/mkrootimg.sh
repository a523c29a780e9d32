#!/bin/bash
# Build (or find cached) a golden root filesystem image of a minimal Debian
# bookworm system that boots with its root on an md "cow" array.
#
#   scripts/mkrootimg.sh [--force]
#
# Prints the image's directory on stdout (progress goes to stderr):
#
#   DIR/golden.img    ext4, label "golden", a few hundred MiB (sparse)
#   DIR/vmlinuz       the pinned kernel ($KVER) of the image
#   DIR/initrd.img    its initramfs, made by Debian's initramfs-tools with
#                     update-initramfs inside the image: md-cow.ko, mdadm and
#                     its udev rules (mdadm-cow's hook), which assemble the
#                     cow array before the root is mounted
#   DIR/fsuuid        the filesystem's UUID (the same on the origin and on
#                     every cow array over it)
#   DIR/golden.sha256 the image's sha256 when it was built
#   DIR/info          what it was built from
#
# The system: debootstrap --variant=minbase, then systemd, systemd-sysv,
# udev, kmod, initramfs-tools (with busybox and zstd, its recommends),
# e2fsprogs and linux-image-$KVER=$KPKG_VERSION from the host's Debian apt
# sources (the pinned kernel comes from bookworm-security or -updates); then
# build/kmod/md-cow.ko in /lib/modules/$KVER/updates (depmod; not the DKMS
# package, which would need a compiler and the headers in the image) and
# dpkg -i of build/deb's mdadm-cow and md-cow-tools (make deb).
# Configuration: hostname mdcow-golden, fstab "UUID=<fsuuid> / ext4",
# mdadm.conf with MAILADDR root (as Debian's mdadm writes it), a fixed
# machine-id (no first-boot setup), and mdcow-boottest.service (after
# multi-user.target and the boot's other jobs) that prints to the console
#
#   MDCOW-BOOT: root=DEV rootdev=mdN level=cow origin=MAJ:MIN origindev=vdX
#     originserial=S byuuid=DEV marker=M failed=UNITS jobwait=Ns
#   MDCOW-DISK: vdX serial=S <its udev properties ID_FS_TYPE, MD_COW_ORIGIN, SYSTEMD_READY>
#   MDCOW-MDSTAT: /proc/mdstat on one line
#   MDCOW-FAILED-LOG: UNIT: the journal of each failed unit (its last lines)
#   MDCOW-JOURNAL: the boot's warnings and errors (the last 30)
#
# (marker: the content of /var/lib/mdcow-marker, "none" without it), then
# writes the kernel command line's mdcow.marker=VALUE to
# /var/lib/mdcow-marker ("MDCOW-MARKER-WRITTEN: VALUE"), syncs and powers
# off.  Without mdcow.marker= on the command line it only prints.
#
# Two cached layers in ${MDCOW_CACHE:-/var/cache/md-cow}:
#   bootroot-HASH   the Debian tree (debootstrap and apt: the slow part,
#                   network); HASH of BASE_RECIPE, the suite, KVER,
#                   KPKG_VERSION, the package list and the mirror.  Change
#                   BASE_RECIPE when the way it is built changes.
#   rootimg-HASH    the image (DIR above); HASH of the base's, this script,
#                   versions.env, md-cow.ko and the contents of the two .deb
#                   files (their version field aside, which changes with
#                   every commit).
# Each is built in a temporary directory renamed when complete; other
# bootroot-* and rootimg-* directories are removed then.  The base is never
# changed: the image is made on an overlayfs over it (or a copy), whose
# merged tree "mke2fs -d" turns into the image (no loop mount).  Every mount
# is undone on every exit path.  Needs root; the first build, the mirror.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$TOP/versions.env"
export LC_ALL=C
umask 022

SUITE=bookworm
BASE_RECIPE=2
PKGS=(systemd systemd-sysv udev kmod initramfs-tools busybox zstd e2fsprogs
	"linux-image-$KVER=$KPKG_VERSION")
CACHE=${MDCOW_CACHE:-/var/cache/md-cow}
KO=$TOP/build/kmod/md-cow.ko
DEBS=(mdadm-cow md-cow-tools)
HOSTNAME_=mdcow-golden

die() { echo "mkrootimg: $*" >&2; exit 1; }
say() { echo "mkrootimg: $*" >&2; }
force=""
case "${1:-}" in
"") ;;
--force) force=1 ;;
*) die "usage: scripts/mkrootimg.sh [--force]" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"

W=""    # work directory of this run (overlay layers, logs)
NEW=""  # a cache directory being built
# Unmount everything at or below $1, innermost first.
umount_under() {
	local m
	findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1' | sort -r |
		while read -r m; do
			umount "$m" 2> /dev/null || umount -l "$m"
		done
}
cleanup() {
	local d
	for d in "$W" "$NEW"; do
		[ -n "$d" ] || continue
		umount_under "$d"
		rm -rf --one-file-system "$d"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
elapsed() {
	local t=$(( (${EPOCHREALTIME/./} - ${1/./}) / 100000 ))
	echo "$((t / 10)).$((t % 10))s"
}

# shellcheck source=../scripts/need-pkgs.sh
. "$TOP/scripts/need-pkgs.sh"

# The host's Debian apt sources for $SUITE, $SUITE-updates and
# $SUITE-security, one "URI SUITE KEYRING COMPONENTS..." line each
# (KEYRING: "-" if none); other sources (third-party repositories) are left
# out.
debian_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '
			function flush(   n, i, a) {
				if (t ~ /(^| )deb( |$)/ && u != "") {
					split(u, a, " ")
					n = split(s, ss, " ")
					for (i = 1; i <= n; i++)
						if (ss[i] ~ ("^" suite "(-updates|-security)?$"))
							print a[1], ss[i], (k == "" ? "-" : k), c
				}
				t = s = u = c = k = ""
			}
			/^#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			/^Types:/ { sub(/^Types:[[:space:]]*/, ""); t = $0 }
			/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); u = $0 }
			/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); s = $0 }
			/^Components:/ { sub(/^Components:[[:space:]]*/, ""); c = $0 }
			/^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); k = $0 }
			END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '$1 == "deb" {
			k = "-"; i = 2
			if ($2 ~ /^\[/) {
				for (; i <= NF; i++) {
					if (match($i, /signed-by=[^] ]*/))
						k = substr($i, RSTART + 10, RLENGTH - 10)
					if ($i ~ /\]$/) break
				}
				i++
			}
			if ($(i + 1) !~ ("^" suite "(-updates|-security)?$")) next
			c = ""
			for (j = i + 2; j <= NF; j++) c = c (c == "" ? "" : " ") $j
			print $i, $(i + 1), k, c
		}' "$f"
	done
}

mount_root() {
	mount -t proc proc "$1/proc"
	mount -t sysfs sysfs "$1/sys"
	mount --bind /dev "$1/dev"
}

# in_root ROOT CMD...: CMD in the chroot with a clean environment.  INITRD=No:
# the kernel's postinst makes no initramfs, so no initramfs exists before
# md-cow's packages are in ("update-initramfs -u", which mdadm-cow's
# trigger runs, then finds none to update); the image's build makes it
# with "update-initramfs -c".
in_root() {
	local r=$1
	shift
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
		DEBIAN_FRONTEND=noninteractive INITRD=No "$@"
}

# run LOG CMD...: CMD with its output in LOG; on failure, LOG's tail and die.
run() {
	local log=$1
	shift
	if ! "$@" >> "$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "failed: $*"
	fi
}

need_pkgs debootstrap e2fsprogs
[ -f "$KO" ] || die "$KO is not built (make module)"
debs=()
for p in "${DEBS[@]}"; do
	f=$(ls "$TOP/build/deb/${p}"_*.deb 2> /dev/null) || die "no $p package in build/deb (make deb)"
	[ "$(echo "$f" | wc -l)" = 1 ] || die "more than one $p package in build/deb"
	debs+=("$f")
done

sources=$(debian_sources | awk '!seen[$1 " " $2]++')
mirror=$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<< "$sources")
[ -n "$mirror" ] || die "no deb source of $SUITE in the host's apt sources"

mkdir -p "$CACHE"
exec 9> "$CACHE/rootimg.lock"
flock 9

# --- the Debian tree -------------------------------------------------------
BHASH=$(printf '%s\n' "$BASE_RECIPE" "$SUITE" "$KVER" "$KPKG_VERSION" "$mirror" "${PKGS[@]}" |
	sha256sum | cut -c1-16)
BASE=$CACHE/bootroot-$BHASH

build_base() {
	local log line uri suite comps key t0=$EPOCHREALTIME
	NEW=$(mktemp -d "$BASE.new.XXXXXX")
	chmod 755 "$NEW"
	log=$NEW.log
	: > "$log"
	say "debootstrap $SUITE from $mirror into $BASE (log $log)"
	if ! debootstrap --variant=minbase "$SUITE" "$NEW" "$mirror" >> "$log" 2>&1; then
		tail -n 30 "$log" "$NEW/debootstrap/debootstrap.log" >&2 2> /dev/null
		die "debootstrap $SUITE from $mirror failed"
	fi
	# apt sources: the host's Debian ones (the pinned kernel is in -security
	# or -updates), with their keyrings.
	rm -f "$NEW/etc/apt/sources.list"
	while read -r uri suite key comps; do
		[ -n "$uri" ] || continue
		if [ "$key" != - ]; then
			[ -e "$NEW$key" ] || install -D -m 644 "$key" "$NEW$key"
			line="deb [signed-by=$key] $uri $suite"
		else
			line="deb $uri $suite"
		fi
		echo "$line $comps"
	done <<< "$sources" > "$NEW/etc/apt/sources.list"
	# Nothing starts services in the chroot.
	printf '#!/bin/sh\nexit 101\n' > "$NEW/usr/sbin/policy-rc.d"
	chmod 755 "$NEW/usr/sbin/policy-rc.d"
	mount_root "$NEW"
	run "$log" in_root "$NEW" apt-get update
	say "apt-get install ${PKGS[*]}"
	run "$log" in_root "$NEW" apt-get install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confold "${PKGS[@]}"
	run "$log" in_root "$NEW" apt-get clean
	umount_under "$NEW"
	[ -f "$NEW/boot/vmlinuz-$KVER" ] || die "no /boot/vmlinuz-$KVER in the new tree"
	printf 'recipe %s\nsuite %s\nmirror %s\npackages %s\n' "$BASE_RECIPE" "$SUITE" "$mirror" "${PKGS[*]}" \
		> "$NEW/.md-cow-bootroot"
	mv "$log" "$BASE.log"
	mv -T "$NEW" "$BASE" || die "cannot rename $NEW to $BASE"
	NEW=""
	say "Debian tree built in $(elapsed "$t0")"
}
if [ -n "$force" ] || [ ! -f "$BASE/.md-cow-bootroot" ]; then
	[ ! -d "$BASE" ] || rm -rf --one-file-system "$BASE"
	build_base
fi

# --- the image -------------------------------------------------------------
# deb_key DEB: the package's contents (files, links, modes, maintainer
# scripts, control fields less Version), not its version or timestamps.
deb_key() {
	local d
	d=$(mktemp -d)
	dpkg-deb -R "$1" "$d"
	sed -i '/^Version:/d' "$d/DEBIAN/control"
	(cd "$d" && find . -mindepth 1 -printf '%P %y %m %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 sha256sum)
	rm -rf "$d"
}
IHASH=$(
	{
		echo "$BHASH"
		sha256sum "$0" "$TOP/versions.env" "$KO" | cut -d' ' -f1
		for f in "${debs[@]}"; do deb_key "$f"; done
	} | sha256sum | cut -c1-16
)
OUT=$CACHE/rootimg-$IHASH
if [ -z "$force" ] && [ -f "$OUT/info" ]; then
	echo "$OUT"
	exit 0
fi

t0=$EPOCHREALTIME
W=$(mktemp -d /var/tmp/md-cow-rootimg.XXXXXX)
R=$W/root
log=$W/build.log
: > "$log"
rm -rf --one-file-system "$OUT"
NEW=$(mktemp -d "$OUT.new.XXXXXX")
chmod 755 "$NEW"
say "building $OUT"
mkdir -p "$W/upper" "$W/work" "$R"
if ! mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$W/upper,workdir=$W/work" "$R" 2> /dev/null; then
	say "overlayfs cannot be mounted here: working on a copy of $BASE"
	cp -a "$BASE/." "$R/"
fi
rm -f "$R/.md-cow-bootroot"
mount_root "$R"

# md-cow.ko (as make install puts it), then our packages.
install -D -m 644 "$KO" "$R/lib/modules/$KVER/updates/md-cow.ko"
run "$log" in_root "$R" depmod -a "$KVER"
mkdir -p "$R/tmp/debs"
cp "${debs[@]}" "$R/tmp/debs/"
run "$log" in_root "$R" sh -c 'dpkg -i /tmp/debs/*.deb'
rm -rf "$R/tmp/debs"
for p in "${DEBS[@]}"; do
	in_root "$R" dpkg-query -W -f="\${db:Status-Abbrev}" "$p" | grep -q '^ii' || die "$p is not installed"
done
in_root "$R" /sbin/mdadm --version 2>&1 | grep -q md-cow || die "/sbin/mdadm --version does not say md-cow"

# Configuration.
echo "$HOSTNAME_" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$HOSTNAME_" > "$R/etc/hosts"
fsuuid=$(cat /proc/sys/kernel/random/uuid)
printf '# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=%s / ext4 errors=remount-ro 0 1\n' \
	"$fsuuid" > "$R/etc/fstab"
# A machine-id of its own: an empty one would mean a first boot (systemd's
# first-boot setup) on every boot of a VM whose writes are thrown away.
tr -d '-' < /proc/sys/kernel/random/uuid > "$R/etc/machine-id"
# mdadm.conf as Debian's mdadm writes it when installed (mdadm-cow writes
# none): without MAILADDR or PROGRAM, "mdadm --monitor --scan" exits at
# once and mdmonitor.service, which udev wants for every cow array, fails.
# No ARRAY lines: the arrays over this image are made after it.
mkdir -p "$R/etc/mdadm"
printf 'HOMEHOST <system>\nMAILADDR root\n' > "$R/etc/mdadm/mdadm.conf"
echo 'RESUME=none' > "$R/etc/initramfs-tools/conf.d/resume"
# fsck's hook looks at the device of / to learn its type, which it cannot
# find in a chroot: name the type, so that e2fsck is in the initramfs.
echo 'FSTYPE=ext4' > "$R/etc/initramfs-tools/conf.d/fstype"
mkdir -p "$R/var/lib"
cat > "$R/usr/local/sbin/mdcow-boottest" << 'EOF'
#!/bin/sh
# Print what the root is on and the marker of the last boot, write this
# boot's marker (kernel command line mdcow.marker=VALUE), power off.
root=$(findmnt -no SOURCE /)
dev=$(realpath "$root")
md=${dev##*/}
level=$(cat "/sys/block/$md/md/level" 2> /dev/null || echo none)
origin=$(cat "/sys/block/$md/md/cow/origin" 2> /dev/null || echo none)
origindev=none originserial=none
if [ "$origin" != none ] && [ -e "/sys/dev/block/$origin" ]; then
	origindev=$(basename "$(realpath "/sys/dev/block/$origin")")
	originserial=$(cat "/sys/block/$origindev/serial" 2> /dev/null || echo none)
fi
uuid=$(sed -n 's/^UUID=\([^ ]*\) \/ .*/\1/p' /etc/fstab)
byuuid=$(realpath "/dev/disk/by-uuid/$uuid" 2> /dev/null || echo none)
marker=$(cat /var/lib/mdcow-marker 2> /dev/null || echo none)
# The boot's other jobs done first (60 s at most), so that a unit that
# fails late is seen.
i=0
while [ "$i" -lt 60 ] && [ -n "$(systemctl list-jobs --no-legend --plain |
	awk '$2 ~ /\./ && $2 != "mdcow-boottest.service"')" ]; do
	sleep 1
	i=$((i + 1))
done
failed=$(systemctl --failed --plain --no-legend | awk '{ printf "%s%s", s, $1; s = "," }')
new=$(sed -n 's/.*mdcow\.marker=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "MDCOW-BOOT: root=$root rootdev=$md level=$level origin=$origin origindev=$origindev" \
	"originserial=$originserial byuuid=$byuuid marker=$marker failed=${failed:-none} jobwait=${i}s"
for d in /sys/block/vd*; do
	[ -e "$d" ] || continue
	echo "MDCOW-DISK: ${d##*/} serial=$(cat "$d/serial" 2> /dev/null)" \
		"$(udevadm info -q property -n "/dev/${d##*/}" | grep -E '^(MD_COW_ORIGIN|SYSTEMD_READY|ID_FS_TYPE)=' | tr '\n' ' ')"
done
echo "MDCOW-MDSTAT: $(tr '\n' ' ' < /proc/mdstat)"
for u in $(echo "$failed" | tr ',' ' '); do
	journalctl -b -u "$u" --no-pager -o cat | tail -n 5 | sed "s/^/MDCOW-FAILED-LOG: $u: /"
done
# The boot's warnings and errors (the console shows them; the test does
# not judge them).
journalctl -b -p warning -o cat --no-pager | tail -n 30 | sed 's/^/MDCOW-JOURNAL: /'
if [ -n "$new" ]; then
	echo "$new" > /var/lib/mdcow-marker
	sync
	echo "MDCOW-MARKER-WRITTEN: $new"
	systemctl --no-block poweroff
fi
EOF
chmod 755 "$R/usr/local/sbin/mdcow-boottest"
cat > "$R/etc/systemd/system/mdcow-boottest.service" << 'EOF'
[Unit]
Description=md-cow boot test: report the root device and the marker, then power off
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/mdcow-boottest
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
run "$log" in_root "$R" systemctl enable mdcow-boottest.service

# The initramfs, by Debian's initramfs-tools, with md-cow's hook.
[ ! -e "$R/boot/initrd.img-$KVER" ] || die "an initramfs was made before md-cow's packages were in"
say "update-initramfs -c -k $KVER"
run "$log" in_root "$R" update-initramfs -c -k "$KVER"
list=$(in_root "$R" lsinitramfs "/boot/initrd.img-$KVER")
for want in "usr/lib/modules/$KVER/updates/md-cow.ko" usr/sbin/mdadm \
	usr/lib/udev/rules.d/63-md-raid-arrays.rules usr/lib/udev/rules.d/64-md-raid-assembly.rules \
	"usr/lib/modules/$KVER/kernel/drivers/block/virtio_blk.ko" usr/sbin/e2fsck; do
	# Merged /usr or not: accept the path with and without usr/.
	grep -Fxq -e "$want" -e "$want.xz" -e "$want.zst" -e "${want#usr/}" -e "${want#usr/}.xz" \
		-e "${want#usr/}.zst" <<< "$list" || die "the initramfs lacks $want"
done

# Leave no traces of the build.
run "$log" in_root "$R" apt-get clean
umount_under "$R/proc"
umount_under "$R/sys"
umount_under "$R/dev"
if findmnt -rn -o TARGET | grep -q "^$R/"; then die "something is still mounted under $R"; fi
rm -rf "$R"/var/lib/apt/lists/* "$R"/tmp/* "$R"/var/tmp/* "$R/usr/sbin/policy-rc.d"
cp "$R/boot/vmlinuz-$KVER" "$NEW/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$NEW/initrd.img"

# The image: the tree's size plus a quarter and 256 MiB, in MiB.
used=$(du -sxk "$R" | cut -f1)
mib=$(( (used * 5 / 4) / 1024 + 256 ))
say "mke2fs -d: ${used} KiB of files, a $mib MiB image"
# Inode tables and journal written now (as zeros: the sparse file stays
# sparse), so that the kernel's lazy init does not write them on the first
# mount of every array.
run "$log" mke2fs -F -q -t ext4 -L golden -U "$fsuuid" -E lazy_itable_init=0,lazy_journal_init=0 \
	-d "$R" "$NEW/golden.img" "${mib}M"
run "$log" e2fsck -fn "$NEW/golden.img"
echo "$fsuuid" > "$NEW/fsuuid"
sha256sum "$NEW/golden.img" | cut -d' ' -f1 > "$NEW/golden.sha256"
umount_under "$R"
{
	echo "base $BASE"
	echo "kernel $KVER $KPKG_VERSION"
	echo "md-cow.ko $(sha256sum "$KO" | cut -d' ' -f1)"
	for f in "${debs[@]}"; do echo "deb ${f##*/}"; done
	echo "fsuuid $fsuuid"
	echo "size ${mib}M"
	echo "built $(date -u +%FT%TZ) in $(elapsed "$t0")"
} > "$NEW/info"
mv "$log" "$NEW/build.log"
mv -T "$NEW" "$OUT" || die "cannot rename $NEW to $OUT"
NEW=""
# Only the current base and image are kept.
for d in "$CACHE"/bootroot-* "$CACHE"/rootimg-*; do
	case "$d" in "$BASE" | "$BASE.log" | "$OUT") continue ;; esac
	umount_under "$d"
	rm -rf --one-file-system "$d"
done
say "image built in $(elapsed "$t0"): $OUT ($(du -k "$OUT/golden.img" | cut -f1) KiB used of ${mib} MiB)"
echo "$OUT"
