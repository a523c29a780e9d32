# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# Which kernel the test VMs boot, from $KERNEL: empty (Debian's pinned
# kernel, build/kernel from scripts/deps.sh) or "debug" (KASAN, lockdep,
# kmemleak, UBSAN, fault injection: scripts/debug-kernel.sh).  Sourced with
# TOP and KVER set; sets
#   MDCOW_KTREE      directory with boot/vmlinuz-VER and lib/modules/VER/
#   MDCOW_RUN_KVER   that VER
#   MDCOW_KO_BUILT   md-cow.ko built for it
#   MDCOW_INITRAMFS  the cached base initramfs for it
#   MDCOW_TIME_SCALE factor for VM timeouts (the debug kernel is slower;
#                    a value from the environment wins, for long modes)
#   MDCOW_VMDIR      the tests' disks, logs and per-run archives: build/vm
#                    or build/vm-debug, so that both lanes can run at once
case "${KERNEL:-}" in
"")
	MDCOW_KTREE=$TOP/build/kernel
	MDCOW_RUN_KVER=$KVER
	MDCOW_KO_BUILT=$TOP/build/kmod/md-cow.ko
	MDCOW_INITRAMFS=$TOP/build/vm/initramfs.cpio.gz
	MDCOW_TIME_SCALE=${MDCOW_TIME_SCALE:-1}
	MDCOW_VMDIR=$TOP/build/vm
	;;
debug)
	MDCOW_KTREE=$TOP/build/kernel-debug
	MDCOW_RUN_KVER=$(cat "$MDCOW_KTREE/kver" 2>/dev/null || echo not-built)
	MDCOW_KO_BUILT=$TOP/build/kmod-debug/md-cow.ko
	MDCOW_INITRAMFS=$TOP/build/vm/initramfs-debug.cpio.gz
	MDCOW_TIME_SCALE=${MDCOW_TIME_SCALE:-3}
	MDCOW_VMDIR=$TOP/build/vm-debug
	;;
*)
	echo "KERNEL=$KERNEL: unknown kernel (leave it empty, or KERNEL=debug)" >&2
	exit 2
	;;
esac
MDCOW_VMLINUZ=$MDCOW_KTREE/boot/vmlinuz-$MDCOW_RUN_KVER
