# shellcheck shell=bash
# Helpers for test bodies running inside the test VM (sourced by test.sh).
# The environment has DISK_<name>=/dev/vdX for each --disk, MDCOW_NAME (the
# test's name) and MDCOW_IN_VM=1; the cwd is /tmp (a tmpfs).

# log MSG...: a progress line, stamped with the VM's uptime.
log() { printf '[%8s] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }

# die MSG...: fail the test.
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# skip MSG...: end the test as skipped.
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || die "${3:-assert_eq}: expected '$2', got '$1'"
}

# expect_fail CMD [ARGS...]: CMD must fail; its output is printed and kept in
# $LAST_OUT (e.g. to check the error message with grep).
LAST_OUT=""
expect_fail() {
	local rc=0
	LAST_OUT=$("$@" 2>&1) || rc=$?
	[ -z "$LAST_OUT" ] || printf '%s\n' "$LAST_OUT" | sed 's/^/    | /'
	[ "$rc" -ne 0 ] || die "expected to fail but succeeded: $*"
	log "failed as expected (status $rc): $*"
}

# origin_sum DEV: sha256 of the whole device, read with O_DIRECT (so that no
# stale page cache of DEV can hide what is really on it).
origin_sum() {
	local s
	s=$(dd if="$1" bs=1M iflag=direct status=none | sha256sum) || die "cannot read $1"
	echo "${s%% *}"
}

# dev_size DEV: size in bytes.
dev_size() { blockdev --getsize64 "$1"; }

# dmesg_ignore ERE: kernel log lines matching ERE no longer fail the test
# (for tests that provoke a kernel warning on purpose).
dmesg_ignore() { printf '%s\n' "$1" >> /run/mdcow/dmesg-ignore; }

# dmesg_mark: remember where the kernel log ends now; dmesg_since prints
# what was logged after the last mark.  Tests look at "what this step
# logged" this way and never clear the log (dmesg -c would hide warnings
# from the harness's final check).
DMESG_MARK=0
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_since() { dmesg | tail -n +$((DMESG_MARK + 1)); }

# dmesg_clean: fail now if the kernel log already has a warning, BUG, oops,
# hung task or call trace (the harness checks again at the end anyway).
dmesg_clean() { mdcow-dmesg-check || die "the kernel log has complaints (above)"; }

# md_wait_idle MD [SECONDS]: wait until the md array (md0, /dev/md0 or
# /dev/md/name) has no resync/recovery/check running (default 300 s).
md_wait_idle() {
	local md=$1 t=0 action
	[[ "$md" == /* ]] || md=/dev/$md
	md=$(basename "$(realpath "$md")")
	[ -d "/sys/block/$md/md" ] || die "md_wait_idle: $1 is not an md array"
	while :; do
		action=$(cat "/sys/block/$md/md/sync_action" 2>/dev/null || echo idle)
		[ "$action" = idle ] && [ "$(cat "/sys/block/$md/md/sync_completed" 2>/dev/null || echo none)" = none ] &&
			return 0
		[ "$t" -lt "${2:-300}" ] || die "md_wait_idle: $md still in '$action' after ${2:-300} s"
		sleep 1
		t=$((t + 1))
	done
}

# udev_start: run systemd-udevd with the md and dm rules (not started by
# default; needed for incremental assembly and /dev/md/NAME links).  Without
# it, DM_DISABLE_UDEV=1 makes libdevmapper create the /dev/mapper nodes.
udev_start() {
	unset DM_DISABLE_UDEV
	/usr/lib/systemd/systemd-udevd --daemon --resolve-names=never
	udevadm trigger --action=add --type=subsystems
	udevadm trigger --action=add --type=devices
	udevadm settle --timeout=60
}
