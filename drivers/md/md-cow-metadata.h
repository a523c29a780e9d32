/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-metadata.h - the interface between the cow I/O path and the only
 * file that knows the on-disk format (md-cow-metadata.c).
 *
 * All functions here sleep (they do synchronous I/O) and must be called from
 * process context; none of them takes md locks.
 */
#ifndef _MD_COW_METADATA_H
#define _MD_COW_METADATA_H

#include <linux/types.h>
#include <linux/blkdev.h>

struct md_rdev;

#define COW_LOCATOR_MAX	128

/**
 * struct cow_meta - in-core copy of the committed cow superblock.
 *
 * Filled by cow_meta_load() and read-only afterwards until the data path
 * starts committing; CPU byte order, sizes in 512-byte sectors.
 */
struct cow_meta {
	u64 seq;			/* commit sequence of the copy in use */
	unsigned int sb_copy;		/* which copy (0 or 1) was loaded */
	bool other_copy_bad;		/* the other copy failed validation */
	bool read_only;			/* unknown ro_compat feature bits */
	bool needs_check;		/* COW_SB_F_NEEDS_CHECK was set */
	bool has_origin;		/* false: unwritten chunks read zeros */
	sector_t array_sectors;		/* size of the cow array */
	unsigned int chunk_sectors;	/* power of two, 8..2048 */
	sector_t origin_sectors;	/* recorded origin size */
	u32 origin_fp;			/* recorded origin fingerprint */
	u32 origin_fp_method;		/* COW_FP_METHOD_* */
	char origin_locator[COW_LOCATOR_MAX + 1]; /* NUL terminated */
	u64 data_start;			/* first chunk-storage block */
	u64 dirty_blocks;		/* usable 4 KiB blocks at last commit */
	u64 mapped_chunks;		/* chunks with a dirty copy */
};

/**
 * cow_meta_load() - read and validate the cow superblock of a dirty device.
 * @dirty: the md member holding the cow metadata (data area relative)
 * @uuid: the md array's UUID; metadata of another array is refused
 * @name: array name for messages
 * @cm: filled on success
 *
 * Both superblock copies are read; the valid one with the higher sequence
 * number is used.  Every refusal is explained in the kernel log.
 *
 * Return: 0, -EIO (unreadable), -EUCLEAN (no valid copy / inconsistent
 * geometry), -ENODEV (metadata of another array), -EOPNOTSUPP (unknown
 * version or incompat feature), -ENOMEM.
 */
int cow_meta_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		  struct cow_meta *cm);

/**
 * cow_handoff_load() - read the origin's current device number, written by
 * mdadm into the handoff block before the array was started.
 * @dirty: the dirty device
 * @uuid: the md array's UUID
 * @name: array name for messages
 * @origin: set to the device number on success
 *
 * Return: 0, -EIO, -EUCLEAN (missing or damaged handoff block), -ENODEV
 * (handoff of another array) or -ENOMEM.
 */
int cow_handoff_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		     dev_t *origin);

/**
 * cow_origin_verify() - check that @origin is the origin @cm was made for.
 * @origin: the opened origin block device
 * @cm: the loaded superblock
 * @name: array name for messages
 *
 * Compares the size and the sampled fingerprint.
 *
 * Return: 0 if it matches, -EIO if the origin cannot be read, -EINVAL if it
 * is not the recorded origin, -EOPNOTSUPP for an unknown fingerprint method.
 */
int cow_origin_verify(struct block_device *origin, const struct cow_meta *cm,
		      const char *name);

#endif /* _MD_COW_METADATA_H */
