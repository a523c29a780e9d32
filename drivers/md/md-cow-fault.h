/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow fault injection, for tests.
 *
 * With CONFIG_FAULT_INJECTION_DEBUG_FS the allocations of the I/O path
 * (copy-up trackers and chunk buffers before their mempool reserves, map
 * nodes, node read buffers) can be made to fail through the standard
 * fault_attr files in /sys/kernel/debug/md-cow-fail-alloc/ (probability,
 * interval, times, verbose, ...; see fault-injection.rst).  A failure there
 * must make the I/O wait or use a reserve, never fail it.  Without that
 * option everything here compiles to nothing.
 */
#ifndef MD_COW_FAULT_H
#define MD_COW_FAULT_H

#include <linux/fault-inject.h>

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
extern struct fault_attr cow_fail_alloc_attr;

/* True if the allocation about to be made should fail.  Any context. */
static inline bool cow_fail_alloc(void)
{
	return should_fail(&cow_fail_alloc_attr, 1);
}

int cow_fault_init(void);
void cow_fault_exit(void);
#else
static inline bool cow_fail_alloc(void)
{
	return false;
}

static inline int cow_fault_init(void)
{
	return 0;
}

static inline void cow_fault_exit(void)
{
}
#endif

#endif /* MD_COW_FAULT_H */
