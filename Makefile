# md-cow top-level Makefile.  Everything is built under build/.
#   make            kernel module (build/kmod/md-cow.ko)
#   make mdadm      patched mdadm (build/mdadm)
#   make tools      C++ userspace tools (build/tools)
#   make check      whole test suite (T=name for one test; KERNEL=debug boots
#                   the debug kernel: KASAN, lockdep, kmemleak, UBSAN)
#   make debug-kernel  build (or find in /var/cache/md-cow) the debug kernel
#   make demo       boot a VM and show a cow array at work
#   make bench      paired benchmarks: md-cow against raw, md raid0, dm-snapshot,
#                   dm-thin, qcow2 (BENCH_REPS, BENCH_PROFILES, BENCH_TARGETS:
#                   Documentation/admin-guide/md-cow-bench.rst)
#   make bench-readu  reads of unwritten chunks, 9 interleaved repetitions
#   make lint       checkpatch --strict and W=1 build of the module
#   make install    module, mdadm and tools into / (DESTDIR=D: under D);
#                   make uninstall removes exactly what it installed
#   make deb        Debian packages in build/deb (VERSION=V: that version):
#                   md-cow-dkms, mdadm-cow (replaces Debian's mdadm), md-cow-tools

TOP     := $(CURDIR)
B       := $(TOP)/build
include $(TOP)/versions.env
KDIR    ?= /lib/modules/$(KVER)/build
KMOD    := $(B)/kmod
KSRCS   := $(wildcard drivers/md/*.c drivers/md/*.h tests/kmod/*.c) Kbuild drivers/md/Kbuild tests/kmod/Kbuild

.PHONY: all deps module mdadm tools initramfs check demo bench bench-readu lint clean distclean debug-kernel install uninstall deb

all: module

deps:
	@scripts/deps.sh

# Kernel 6.12 cannot put external-module objects outside the source tree,
# so the sources are mirrored into build/kmod and built there.
module: deps $(KMOD)/md-cow.ko

$(KMOD)/md-cow.ko: $(KSRCS) Makefile
	@mkdir -p $(KMOD)/drivers/md
	@cp -p Kbuild $(KMOD)/Kbuild
	@cp -p drivers/md/Kbuild drivers/md/*.c drivers/md/*.h $(KMOD)/drivers/md/
	@mkdir -p $(KMOD)/tests/kmod
	@cp -p tests/kmod/Kbuild tests/kmod/*.c $(KMOD)/tests/kmod/
	$(MAKE) -C $(KDIR) M=$(KMOD) MD_PRIV_INC=$(B)/md-include W=1 modules
	@cp -p $(KMOD)/drivers/md/md-cow.ko $(KMOD)/md-cow.ko

# CAMELCASE is ignored because --no-tree mode cannot see that Faulty and
# friends are md.h's own identifiers; everything else is --strict.
lint: module
	perl $(B)/checkpatch/checkpatch.pl --no-tree --strict --terse --show-types \
		--ignore FILE_PATH_CHANGES,CAMELCASE -f drivers/md/*.c drivers/md/*.h tests/kmod/*.c

mdadm: deps
	@tools/mdadm-cow/build.sh

tools: deps
	@export TOP=$(TOP); . scripts/ccache-env; \
	cmake -S tools -B $(B)/tools -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_CXX_COMPILER_LAUNCHER="$$MDCOW_CCACHE" >/dev/null && \
	cmake --build $(B)/tools -j2

install: module mdadm tools
	@DESTDIR=$(DESTDIR) scripts/install.sh install

uninstall:
	@DESTDIR=$(DESTDIR) scripts/install.sh uninstall

deb: module mdadm tools
	@VERSION=$(VERSION) scripts/mkdeb.sh

initramfs: module mdadm
	@tests/vm/mkinitramfs

debug-kernel: deps
	@scripts/debug-kernel.sh

check: module mdadm tools $(if $(filter debug,$(KERNEL)),debug-kernel)
	@KERNEL=$(KERNEL) tests/run $(T)

demo: module mdadm tools
	@tests/demo

bench: module mdadm tools
	@tests/bench/run

bench-readu: module mdadm
	@tests/bench/readu

clean:
	rm -rf $(KMOD) $(B)/tools $(B)/mdadm $(B)/vm

distclean:
	rm -rf $(B)
