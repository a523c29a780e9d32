/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-compat.h - the one place where kernel-version differences live.
 *
 * md-cow is built against md's private md.h of the exact kernel it runs on
 * (struct layouts drift even inside a stable series), so "compat" here only
 * covers block-layer APIs that the core code calls through these wrappers.
 *
 * Supported: Linux 6.12 (Debian 6.12.117+deb12).  Older kernels lack the
 * file-based block device open (6.9 API) and the atomic queue-limits
 * update API (6.9/6.10) the personality relies on.
 */
#ifndef _MD_COW_COMPAT_H
#define _MD_COW_COMPAT_H

#include <linux/blkdev.h>
#include <linux/fs.h>

/* BLK_OPEN_* arrived in 6.5; older kernels cannot build md-cow at all. */
#ifndef BLK_OPEN_READ
#error "md-cow needs Linux 6.12 or later (bdev_file_open_by_dev, queue_limits_set)"
#endif

/* 6.9 API: block devices are opened as files; the holder claims them. */
static inline struct file *cow_compat_open_ro(dev_t dev, void *holder)
{
	return bdev_file_open_by_dev(dev, BLK_OPEN_READ, holder, NULL);
}

static inline struct file *cow_compat_open_rw(dev_t dev, void *holder)
{
	return bdev_file_open_by_dev(dev, BLK_OPEN_READ | BLK_OPEN_WRITE,
				     holder, NULL);
}

static inline void cow_compat_close(struct file *bdev_file)
{
	bdev_fput(bdev_file);
}

#endif /* _MD_COW_COMPAT_H */
