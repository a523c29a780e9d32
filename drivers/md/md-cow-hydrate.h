/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-hydrate.h - hydration: copy every chunk that a cow array still
 * reads from its origin into its dirty device, in md's resync thread, so
 * that the origin can then be detached.
 *
 * Hydration is an md resync: md/cow/hydrate sets md's resync_offset to 0,
 * md's resync thread calls the personality's sync_request, which is
 * cow_hydrate_sync().  md shows the progress in /proc/mdstat, throttles it
 * with sync_speed_min/max, gives user I/O priority, and checkpoints it in
 * the md superblock (resync_offset), so an interrupted hydration goes on
 * from there when the array is started again.  A cow array never needs a
 * resync otherwise (md-cow does not mark it dirty), and a requested check
 * or repair has nothing to do.
 *
 * A merge of the dirty device into the origin (cow_md_merging()) takes the
 * same way: the resync visits the chunks that hold something the origin
 * lacks (mapped, not clean), and the fill callback writes them to the
 * origin instead.
 */
#ifndef _MD_COW_HYDRATE_H
#define _MD_COW_HYDRATE_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/wait.h>

struct mddev;
struct cow_md;

/* Chunk fills in flight at most, per array. */
#define COW_HYDRATE_FILLS	8

/**
 * struct cow_hydrate - one array's hydration state (in its conf).
 * @mddev: the array
 * @md: its metadata
 * @chunk_shift: log2 of the chunk size in sectors
 * @fill: starts copying what @chunk still reads from the origin into the
 *	dirty device (md-cow-main.c); when it is done, cow_hydrate_filled()
 *	must be called with @sectors
 * @inflight: fills started and not finished
 * @wait: cow_hydrate_sync() waits here for a free fill
 *
 * Set up by cow_hydrate_init() in the personality's run; only md's resync
 * thread starts fills; they finish in any context.
 */
struct cow_hydrate {
	struct mddev *mddev;
	struct cow_md *md;
	unsigned int chunk_shift;
	void (*fill)(struct cow_hydrate *h, u64 chunk, unsigned int sectors);
	atomic_t inflight;
	wait_queue_head_t wait;
};

void cow_hydrate_init(struct cow_hydrate *h, struct mddev *mddev,
		      struct cow_md *md, unsigned int chunk_shift,
		      void (*fill)(struct cow_hydrate *h, u64 chunk,
				   unsigned int sectors));

/**
 * cow_hydrate_start() - start a hydration (md/cow/hydrate).
 * @h: the array's hydration state
 * @has_origin: the array has an origin (else there is nothing to copy)
 *
 * Called with the reconfig mutex held.  Refuses with -ENOSPC (and says how
 * much is needed) when the dirty device lacks the free slots for every
 * chunk not yet mapped, -EBUSY when a resync (hydration) is in progress or
 * pending, -EINVAL without an origin, -EROFS on a read-only array.
 */
int cow_hydrate_start(struct cow_hydrate *h, bool has_origin);

/**
 * cow_merge_start() - start the resync of a merge (the metadata says so).
 * @h: the array's hydration state
 *
 * Called with the reconfig mutex held.  Return: 0, -EROFS or -EBUSY (a
 * resync is in progress or pending).
 */
int cow_merge_start(struct cow_hydrate *h);

/**
 * cow_resync_kick() - have md's resync thread start from sector 0.
 * @mddev: the array (reconfig mutex held)
 */
void cow_resync_kick(struct mddev *mddev);

/**
 * cow_hydrate_running() - a hydration is in progress or will resume.
 * @h: the array's hydration state
 */
bool cow_hydrate_running(struct cow_hydrate *h);

/**
 * cow_hydrate_sync() - the personality's sync_request.
 * @h: the array's hydration state
 * @sector_nr: where md's resync stands
 * @max_sector: its end
 * @skipped: set when the sectors returned need no I/O
 * @has_origin: the array has an origin
 *
 * Returns the sectors handled (skipped, or being filled: md counts them in
 * recovery_active until cow_hydrate_filled()), 0 to stop the resync.
 */
sector_t cow_hydrate_sync(struct cow_hydrate *h, sector_t sector_nr,
			  sector_t max_sector, int *skipped, bool has_origin);

/**
 * cow_hydrate_filled() - a fill started by cow_hydrate_sync() is done.
 * @h: the array's hydration state
 * @sectors: what the fill was started with
 * @err: 0, or why the chunk could not be filled (the resync stops, and
 *	goes on from its checkpoint at the next start)
 */
void cow_hydrate_filled(struct cow_hydrate *h, unsigned int sectors, int err);

#endif /* _MD_COW_HYDRATE_H */
