// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-hydrate.c - hydration of a cow array through md's resync thread
 * (see md-cow-hydrate.h).
 */

#include <linux/kernel.h>
#include <linux/sched/mm.h>

#include "md.h"
#include "md-cow-metadata.h"
#include "md-cow-hydrate.h"

/* Entries per map node (COW_NODE_ENTRIES in md-cow_p.h). */
#define COW_HYDRATE_NODE_ENTRIES	507
/* Chunks looked at per call when they need nothing (bounds its latency). */
#define COW_HYDRATE_SCAN		4096

void cow_hydrate_init(struct cow_hydrate *h, struct mddev *mddev,
		      struct cow_md *md, unsigned int chunk_shift,
		      void (*fill)(struct cow_hydrate *h, u64 chunk,
				   unsigned int sectors))
{
	h->mddev = mddev;
	h->md = md;
	h->chunk_shift = chunk_shift;
	h->fill = fill;
	atomic_set(&h->inflight, 0);
	init_waitqueue_head(&h->wait);
}

bool cow_hydrate_running(struct cow_hydrate *h)
{
	return READ_ONCE(h->mddev->resync_offset) != MaxSector ||
		test_bit(MD_RECOVERY_RUNNING, &h->mddev->recovery);
}

/*
 * Slots a full hydration may still take: one per unmapped chunk, and the
 * metadata units for every map node of a full map (node pairs of two
 * blocks; counted whole, although part of the map exists already).
 */
static u64 cow_hydrate_slots_needed(struct cow_hydrate *h,
				    const struct cow_md_stats *st)
{
	const struct cow_meta *meta = cow_md_meta(h->md);
	u64 nodes = 0, n = meta->nr_chunks;
	u64 chunk_blocks = meta->chunk_sectors >> 3;

	do {
		n = DIV_ROUND_UP_ULL(n, COW_HYDRATE_NODE_ENTRIES);
		nodes += n;
	} while (n > 1);
	return meta->nr_chunks - st->mapped_chunks +
		DIV_ROUND_UP_ULL(nodes * 2, chunk_blocks) + 1;
}

int cow_hydrate_start(struct cow_hydrate *h, bool has_origin)
{
	struct mddev *mddev = h->mddev;
	const struct cow_meta *meta = cow_md_meta(h->md);
	struct cow_md_stats st;
	u64 need, free;

	lockdep_assert_held(&mddev->reconfig_mutex);
	if (!has_origin) {
		pr_warn("md/cow:%s: cannot hydrate: the array has no origin\n",
			mdname(mddev));
		return -EINVAL;
	}
	if (!md_is_rdwr(mddev))
		return -EROFS;
	if (cow_hydrate_running(h))
		return -EBUSY;
	cow_md_get_stats(h->md, &st);
	need = cow_hydrate_slots_needed(h, &st);
	free = st.total_slots - st.used_slots;
	if (need > free) {
		pr_warn("md/cow:%s: cannot hydrate: it needs up to %llu free chunk slots (%llu MiB), the dirty device has %llu (%llu MiB): grow it first\n",
			mdname(mddev), need,
			(need * meta->chunk_sectors) >> 11, free,
			(free * meta->chunk_sectors) >> 11);
		return -ENOSPC;
	}
	pr_info("md/cow:%s: hydrating: %llu of %llu chunks to copy from the origin\n",
		mdname(mddev), meta->nr_chunks - st.mapped_chunks,
		meta->nr_chunks);
	cow_resync_kick(mddev);
	return 0;
}

int cow_merge_start(struct cow_hydrate *h)
{
	struct mddev *mddev = h->mddev;

	lockdep_assert_held(&mddev->reconfig_mutex);
	if (!md_is_rdwr(mddev))
		return -EROFS;
	if (cow_hydrate_running(h))
		return -EBUSY;
	cow_resync_kick(mddev);
	return 0;
}

void cow_resync_kick(struct mddev *mddev)
{
	/* A resync from the start; md records it in its superblock. */
	mddev->resync_offset = 0;
	set_bit(MD_SB_CHANGE_CLEAN, &mddev->sb_flags);
	clear_bit(MD_RECOVERY_FROZEN, &mddev->recovery);
	set_bit(MD_RECOVERY_NEEDED, &mddev->recovery);
	md_wakeup_thread(mddev->thread);
}

/*
 * Hydration: does @chunk read anything from the origin (a clean chunk
 * counts: it is to become an ordinary one)?  Merge: does it hold anything
 * that the origin lacks (mapped, not clean)?  Sleeps (may load a leaf).
 */
static int cow_hydrate_wanted(struct cow_hydrate *h, u64 chunk)
{
	bool merge = cow_md_merging(h->md);
	u64 slot;
	u16 missing;
	int err;

	if (!cow_md_is_mapped(h->md, chunk))
		return !merge;
	while ((err = cow_md_lookup_slow(h->md, chunk, &slot, &missing)) ==
	       -ENOMEM)
		memalloc_retry_wait(GFP_NOIO);
	if (err == -ENOENT)
		return !merge;	/* a discard unmapped it just now */
	if (err)
		return err;
	if (merge)
		return missing != COW_MD_CLEAN;
	return slot != COW_MD_SLOT_ZERO && missing;
}

sector_t cow_hydrate_sync(struct cow_hydrate *h, sector_t sector_nr,
			  sector_t max_sector, int *skipped, bool has_origin)
{
	struct mddev *mddev = h->mddev;
	u64 chunk = sector_nr >> h->chunk_shift, first = chunk, last;
	sector_t end;
	int wanted = 0;

	if (sector_nr >= max_sector)
		return 0;	/* the end: md waits for the fills itself */
	/*
	 * Only a resync (md/cow/hydrate) copies; a requested check or repair
	 * has nothing to compare, and an array without origin nothing to
	 * copy.
	 */
	if (!has_origin || test_bit(MD_RECOVERY_REQUESTED, &mddev->recovery)) {
		*skipped = 1;
		return max_sector - sector_nr;
	}
	last = min_t(u64, (max_sector - 1) >> h->chunk_shift,
		     first + COW_HYDRATE_SCAN - 1);
	for (; chunk <= last; chunk++) {
		wanted = cow_hydrate_wanted(h, chunk);
		if (wanted)
			break;
	}
	if (wanted < 0) {
		pr_warn("md/cow:%s: %s stops at chunk %llu: its map entry cannot be read (%d)\n",
			mdname(mddev),
			cow_md_merging(h->md) ? "merge" : "hydration", chunk,
			wanted);
		return 0;
	}
	if (chunk != first || !wanted) {
		/* Up to the chunk that needs a fill, or past the scan. */
		end = min_t(sector_t, (sector_t)chunk << h->chunk_shift,
			    max_sector);
		*skipped = 1;
		return end - sector_nr;
	}
	end = min_t(sector_t, (sector_t)(chunk + 1) << h->chunk_shift,
		    max_sector);
	wait_event(h->wait,
		   atomic_read(&h->inflight) < COW_HYDRATE_FILLS);
	atomic_inc(&h->inflight);
	h->fill(h, chunk, end - sector_nr);
	return end - sector_nr;
}

void cow_hydrate_filled(struct cow_hydrate *h, unsigned int sectors, int err)
{
	if (err)
		pr_warn_ratelimited("md/cow:%s: %s: a chunk could not be copied (%d); it stops, and goes on from its checkpoint at the next start\n",
				    mdname(h->mddev),
				    cow_md_merging(h->md) ? "merge" : "hydration",
				    err);
	md_done_sync(h->mddev, sectors, !err);
	if (atomic_dec_return(&h->inflight) < COW_HYDRATE_FILLS)
		wake_up(&h->wait);
}
