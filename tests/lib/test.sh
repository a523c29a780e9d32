# shellcheck shell=bash
# tests/lib/test.sh: makes one executable file both the launcher and the body
# of a test.  A test is an executable bash file tests/GROUP/NNN-name:
#
#   #!/bin/bash
#   # DESCRIPTION: one line
#   # REQUIRES: vm module mdadm     (unmet: the test exits 77, "skipped")
#   # VM: --disk origin=64M --disk dirty=32M --timeout 300
#   # KERNEL: debug                 (optional: only "make check KERNEL=debug"
#   #                                runs it in a whole-suite run)
#   # ALONE: reason                 (optional: tests/run runs it with no
#   #                                other test beside it, VMs of 2 vCPUs)
#   . "$(dirname "$0")/../lib/test.sh"
#   ... body: runs as root inside a VM ...
#
# Run on the host, sourcing this file checks REQUIRES, then replaces the
# process with tests/vm/run, giving it the "# VM:" options (plain words, no
# quoting) and --name GROUP/NNN-name, to run this same file (with the same
# arguments) inside a fresh VM; it never returns.  Inside the VM it sets
# strict mode, sources vm.sh (log, die, skip, assert_eq, expect_fail,
# origin_sum, md_wait_idle, ...) and returns, so the body runs there.
#
# Host-side tests say "# VM: none": then this file returns on the host too and
# the body runs there.  It can run tests/vm/run ("$TOP/tests/vm/run") itself,
# or boot this same file, e.g. twice to check persistence across a reboot:
#
#   if on_host; then
#           vm_boot --disk d=64M,keep -- write
#           vm_boot --disk d=64M,keep -- check
#           exit 0
#   fi
#   case "$1" in write) ... ;; check) ... ;; esac
#
# vm_boot [tests/vm/run options] -- [ARGS...] boots a VM running this file with
# ARGS and returns its status; all boots of a test share its disks
# (MDCOW_VMDIR/disks/GROUP/NNN-name/, wiped by tests/run before the test) and
# log to MDCOW_VMDIR/logs/GROUP/NNN-name.bootN.console (MDCOW_VMDIR: build/vm,
# build/vm-debug for KERNEL=debug).
#
# REQUIRES words: vm (QEMU and the kernel), module (build/kmod/md-cow.ko),
# mdadm (the patched build/mdadm), tools (every build/tools/... file that the
# VM: line adds; make tools).  Paths in the VM: line and vm_boot's options are
# relative to the top of the repository.
#
# In the VM: disk NAME is $DISK_NAME (/dev/vdX) and /dev/disk/by-id/virtio-NAME,
# --add'ed files are under /add unless told otherwise, the cwd is /tmp.  udev
# is NOT running unless the test calls udev_start: then nothing assembles
# arrays behind the test's back, but mdadm (4.2) does not remove /dev/md/NAME
# links on --stop either.  Whatever the test's verdict, it fails if the kernel
# logged a warning, BUG, oops, hung task or call trace (see dmesg_ignore).
set -eEuo pipefail

TEST_FILE=$(realpath "$0")
TEST_NAME="$(basename "$(dirname "$TEST_FILE")")/$(basename "$TEST_FILE")"

on_host() { [ -z "${MDCOW_IN_VM:-}" ]; }
in_vm() { [ -n "${MDCOW_IN_VM:-}" ]; }

# Value of the header line "# KEY: value" of this test.
test_header() { sed -n "s/^# $1:[[:space:]]*//p" "$TEST_FILE" | head -n 1; }

if in_vm; then
	# shellcheck source=vm.sh
	. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"
	trap 'echo "FAIL: ${BASH_SOURCE[0]##*/} line $LINENO: status $?: $BASH_COMMAND" >&2' ERR
	return 0
fi

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../versions.env
. "$TOP/versions.env"
# shellcheck source=kernel.sh
. "$TOP/tests/lib/kernel.sh"

for req in $(test_header REQUIRES); do
	case "$req" in
	vm)
		if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f "$MDCOW_VMLINUZ" ]; then
			echo "SKIP: needs QEMU and the kernel $MDCOW_VMLINUZ (scripts/deps.sh; KERNEL=debug: scripts/debug-kernel.sh)"
			exit 77
		fi ;;
	module)
		[ -f "${MDCOW_KO:-$MDCOW_KO_BUILT}" ] ||
			{ echo "SKIP: needs ${MDCOW_KO:-$MDCOW_KO_BUILT} (make module)"; exit 77; } ;;
	mdadm)
		[ -x "$TOP/build/mdadm" ] || { echo "SKIP: needs build/mdadm (make mdadm)"; exit 77; } ;;
	tools)
		for w in $(test_header VM); do
			case "$w" in build/tools/*)
				[ -e "$TOP/${w%%:*}" ] || { echo "SKIP: needs ${w%%:*} (make tools)"; exit 77; } ;;
			esac
		done ;;
	*)
		echo "$TEST_NAME: unknown REQUIRES word '$req'" >&2
		exit 2 ;;
	esac
done

VM_BOOTS=0
# vm_boot [tests/vm/run options] -- [ARGS...]: run this file in a VM.
vm_boot() {
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	VM_BOOTS=$((VM_BOOTS + 1))
	(cd "$TOP" && tests/vm/run --name "$TEST_NAME" \
		--console "$MDCOW_VMDIR/logs/$TEST_NAME.boot$VM_BOOTS.console" \
		"${opts[@]}" -- "$TEST_FILE" "$@")
}

vm_opts=$(test_header VM)
if [ "$vm_opts" != none ]; then
	cd "$TOP"
	# shellcheck disable=SC2086 # the VM: line is a list of words
	exec "$TOP/tests/vm/run" --name "$TEST_NAME" $vm_opts -- "$TEST_FILE" "$@"
fi
