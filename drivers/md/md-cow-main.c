// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-main.c - the md "cow" personality: copy-on-write over a read-only
 * origin.
 *
 * A cow array has exactly one md member, the *dirty* device, which carries
 * md's v1.2 superblock and, in md's data area, the cow metadata (see
 * md-cow-metadata.c, the only file that knows the on-disk format).  The
 * *origin* is not an md member: md writes superblocks to every member and
 * claims members exclusively, while an origin must stay untouched and may
 * serve many arrays at once.  The personality therefore opens the origin
 * itself, read-only, with one module-wide holder shared by all cow arrays
 * (so mounts and other exclusive users are kept off it), and checks it
 * against the identity recorded in the cow superblock.
 *
 * Data path: a chunk never written reads from the origin (or as zeros
 * without one); its first write allocates the next free chunk slot on the
 * dirty device, fills it (the write itself when it covers the whole chunk,
 * else the origin's data with the write's data copied on top, in one
 * write), and maps the chunk; later I/O to a mapped chunk goes straight
 * to its slot.  In format 2 a chunk is made of 16 sub-chunks, and a first
 * write fills only the sub-chunks it touches (origin data only where it
 * covers a sub-chunk in part): the other sub-chunks stay missing and read
 * from the origin, until a later write fills them the same way.  Bios
 * that arrive for a chunk while it is being copied up or filled wait for
 * it.  Mappings are committed like a disk with a
 * volatile write cache: on REQ_PREFLUSH, before a REQ_FUA write completes,
 * every commit_interval_ms, and when the array is quiesced or stopped.
 * Discard and write-zeroes are not advertised.
 *
 * Forward progress under memory pressure: copy-ups take their tracking
 * struct and their chunk buffer from mempools and their bios from the
 * array's own bioset, at most COW_MAX_COPYUPS run at once, and an
 * allocation failure in the map code makes the copy-up wait and retry: I/O
 * never fails for lack of memory.  REQ_NOWAIT bios that would have to wait
 * (for a copy-up, a map leaf, a commit or memory) complete with
 * BLK_STS_AGAIN instead, and BLK_STS_AGAIN from below is never taken for a
 * device failure.
 *
 * What the array can do is one state, enum cow_mode (see there).
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/srcu.h>
#include <linux/workqueue.h>

#include "md.h"
#include "md-cow-compat.h"
#include "md-cow-metadata.h"
#include "md-cow-handoff.h"
#include "md-cow-fault.h"
#include "md-cow-hydrate.h"
#include "md-cow-cache.h"

/*
 * md level number of the personality.  Not used by any md personality (nor
 * reserved by mdadm); positive because mdadm treats level > 0 as an array
 * with a size, and far below mdadm's UnSet (0xfffe).
 */
#define COW_LEVEL	64

#define COW_DEFAULT_COMMIT_MS	1000
static unsigned int cache_leaves = 1024;
module_param(cache_leaves, uint, 0644);
MODULE_PARM_DESC(cache_leaves,
		 "map leaves kept in memory per array, 4 KiB each (default 1024, at least 16); read at assembly");
#define COW_PENDING_HASH_BITS	8
#define COW_DEFAULT_NOSPACE_S	60
#define COW_DEFAULT_LOW_WATER_PCT 5
/* Copy-ups running at once per array; each holds one chunk of memory. */
#define COW_MAX_COPYUPS		16
/* Reserved copy-up trackers and chunk buffers: enough to make progress. */
#define COW_MIN_PENDING		4
#define COW_MIN_COPYBUFS	1
/* While writes are parked, look at least this often for a suspend. */
#define COW_PARK_POLL		HZ
/* Clean chunks dropped at least, when space runs low (copy-on-read). */
#define COW_EVICT_MIN		16

/*
 * The one holder every cow array claims its origin with: a block device
 * claim is shared by equal holders, so any number of cow arrays can hold one
 * origin while mounts, dm and other md arrays are refused.
 */
static int cow_origin_holder;

/**
 * enum cow_mode - what a cow array can do (cow_conf.mode).
 * @COW_MODE_WRITE: normal operation.
 * @COW_MODE_NO_SPACE: no slot is left on the dirty device.  Writes to
 *	unwritten chunks wait for space (policy "queue", each at most
 *	no_space_timeout seconds) or fail with ENOSPC (policy "error", or
 *	after a timeout); reads and writes of written chunks work.  Growing
 *	the dirty device returns to @COW_MODE_WRITE.
 * @COW_MODE_READ_ONLY: every write fails with EIO, reads work.  Entered at
 *	assembly for unknown ro_compat features or the needs_check flag, and
 *	when map damage is found while running.  Left only by stopping the
 *	array (and, for damage, cow_check --clear-needs-check).
 * @COW_MODE_FAIL: a write to the dirty device or a commit failed: every
 *	write fails with EIO and nothing is committed any more; reads are
 *	still served.  Left only by stopping the array.
 *
 * The order matters: a mode only moves up, except NO_SPACE -> WRITE.
 */
enum cow_mode {
	COW_MODE_WRITE,
	COW_MODE_NO_SPACE,
	COW_MODE_READ_ONLY,
	COW_MODE_FAIL,
};

static const char * const cow_mode_names[] = {
	[COW_MODE_WRITE] = "write",
	[COW_MODE_NO_SPACE] = "out-of-space",
	[COW_MODE_READ_ONLY] = "read-only",
	[COW_MODE_FAIL] = "fail",
};

/**
 * struct cow_pending - a chunk being copied up (its first write).
 * @hnode: in cow_conf.pending (cow_conf.lock)
 * @park: in cow_conf.parked while waiting for space (cow_conf.lock)
 * @park_until: jiffies when a parked write gives up (cow_conf.lock)
 * @chunk: the chunk
 * @bios: the write that started it first, then every bio that arrived for
 *	the chunk meanwhile (cow_conf.lock)
 * @work: runs cow_copyup_work()
 * @conf: the array
 *
 * Lifecycle: taken from cow_conf.pending_pool by the first write to an
 * unmapped chunk, which queues @work; the work allocates a slot, fills it
 * (the whole-chunk write itself, or origin data or zeros with the first
 * write's data on top), inserts the mapping, completes the first write,
 * then unhashes the entry and resubmits the waiting bios, which now find
 * the chunk mapped.
 */
struct cow_pending {
	struct hlist_node hnode;
	struct list_head park;
	unsigned long park_until;
	u64 chunk;
	struct bio_list bios;
	struct work_struct work;
	struct cow_conf *conf;
};

/**
 * struct cow_copybuf - a chunk buffer and the bio that reads and writes it.
 * @nr: pages of the buffer
 * @bio: built anew for each read and write (bio_init)
 * @bvec: @nr entries, one page each (the buffer), then @nr entries that
 *	are @bio's vector table
 */
struct cow_copybuf {
	unsigned int nr;
	struct bio bio;
	struct bio_vec bvec[];
};

/**
 * struct cow_remap - front of a clone that reads or writes a chunk's slot.
 * @conf: the array, for error handling at completion
 * @srcu_idx: the clone holds cow_conf.io_srcu until it completes, so the
 *	slot is not handed to another chunk under it
 * @clone: cloned from the array's bioset (cow_conf.bs)
 */
struct cow_remap {
	struct cow_conf *conf;
	int srcu_idx;
	struct bio clone;
};

/**
 * struct cow_conf - per-array state, mddev->private.
 * @mddev: the array
 * @dirty: the only md member, holding the cow metadata and chunks
 * @origin_file: the origin opened read-only; NULL when the array has no
 *	origin and unwritten chunks read as zeros
 * @origin: block device of @origin_file
 * @origin_dev: device number of the origin, 0 without one
 * @lower: when the origin is a cow array (or a partition of one), that
 *	array's conf, whose @cow_users this array counts in; NULL otherwise
 * @cow_users: cow arrays running with this array as their origin; while
 *	there are any, writes are refused (the content they depend on must
 *	not change)
 * @md: the metadata handle
 * @meta: constant superblock facts (owned by @md)
 * @chunk_shift: log2 of the chunk size in sectors
 * @wq: leaf loads, commits, no-space timer, notifications
 * @copy_wq: copy-ups, at most COW_MAX_COPYUPS at once
 * @pending_pool: struct cow_pending
 * @copy_pool: struct cow_copybuf, one chunk each
 * @bs: clones of writes to the dirty device (struct cow_remap in front)
 * @split_bs: reads of partly filled chunks, split where the data source
 *	changes
 * @zero_bs: writes of zero pages that carry out a write-zeroes of part of
 *	a chunk (or one that must not unmap)
 * @io_srcu: held from a chunk's lookup until the I/O sent to its slot
 *	completes; slots that discards freed are reused only after a grace
 *	period (cow_release_freed())
 * @srcu_ready: @io_srcu is initialised
 * @mode: enum cow_mode; changed only by cow_set_mode() (cmpxchg), read
 *	with READ_ONCE
 * @lock: protects @pending, @deferred, @flush_bios, @parked, @stopping
 * @pending: chunks being copied up
 * @deferred: bios waiting for a map leaf to be read
 * @flush_bios: flush and FUA bios waiting for a commit
 * @parked: pending copy-ups waiting for space, oldest first
 * @stopping: the array is being stopped: nothing may be parked any more
 * @commit_work: commits, then releases @flush_bios
 * @deferred_work: reads leaves for @deferred
 * @notify_work: tells userspace that md/cow/state changed (may be
 *	queued from interrupt context)
 * @periodic: commits every @commit_ms when there are changes
 * @nospace_work: fails parked writes whose time is up
 * @commit_ms: commit interval in milliseconds (sysfs)
 * @low: free slots are at or below @low_water
 * @queue_on_full: no-space policy: park first writes (true) or fail them
 * @nospace_expired: parked writes timed out; fail at once until space grows
 * @nospace_timeout_s: how long each first write stays parked
 * @low_water: free slots at which @low is set and sysfs notified
 * @low_water_pct: if not 0, @low_water is this percentage of the slots,
 *	recomputed when the dirty device grows; 0: @low_water was set in slots
 * @discard_passdown: discard freed slots on the dirty device (sysfs)
 * @hydrate: hydration state (md-cow-hydrate.h)
 * @cache: copy-on-read state (md-cow-cache.h)
 * @evict_work: drops clean chunks when free slots fall to the low-water
 *	mark (copy-on-read)
 *
 * Locking: set up in cow_run() and torn down in cow_free(), both under the
 * mddev reconfig mutex; the pointers are constant in between.  Readers
 * outside the I/O path (sysfs) look the structure up under mddev->lock,
 * which cow_free() also takes to unpublish it.
 */
struct cow_conf {
	struct mddev *mddev;
	struct md_rdev *dirty;
	struct file *origin_file;
	struct block_device *origin;
	dev_t origin_dev;
	struct cow_conf *lower;
	atomic_t cow_users;
	struct cow_md *md;
	const struct cow_meta *meta;
	unsigned int chunk_shift;
	struct workqueue_struct *wq;
	struct workqueue_struct *copy_wq;
	mempool_t pending_pool;
	mempool_t copy_pool;
	struct bio_set bs;
	struct bio_set split_bs;
	struct bio_set zero_bs;
	struct srcu_struct io_srcu;
	bool srcu_ready;
	int mode;

	spinlock_t lock;	/* see the field notes above */
	DECLARE_HASHTABLE(pending, COW_PENDING_HASH_BITS);
	struct bio_list deferred;
	struct bio_list flush_bios;
	struct list_head parked;
	bool stopping;

	struct work_struct commit_work;
	struct work_struct deferred_work;
	struct work_struct notify_work;
	struct delayed_work periodic;
	struct delayed_work nospace_work;
	unsigned int commit_ms;
	bool low;
	bool queue_on_full;
	bool nospace_expired;
	unsigned int nospace_timeout_s;
	u64 low_water;
	unsigned int low_water_pct;
	bool discard_passdown;
	struct cow_hydrate hydrate;
	struct cow_cache cache;
	struct work_struct evict_work;
};

static struct cow_conf *cow_conf_get(struct mddev *mddev)
{
	lockdep_assert_held(&mddev->lock);
	return mddev->private;
}

static u64 cow_chunk_of(struct cow_conf *conf, sector_t sector)
{
	return sector >> conf->chunk_shift;
}

static sector_t cow_chunk_offset(struct cow_conf *conf, sector_t sector)
{
	return sector & ((1U << conf->chunk_shift) - 1);
}

/* Sectors of @chunk inside the array (the last chunk may be partial). */
static unsigned int cow_chunk_len(struct cow_conf *conf, u64 chunk)
{
	sector_t start = chunk << conf->chunk_shift;

	return min_t(sector_t, 1U << conf->chunk_shift,
		     conf->meta->array_sectors - start);
}

/* Sectors per sub-chunk; 0: chunks are filled whole (see cow_meta). */
static unsigned int cow_sub_sectors(struct cow_conf *conf)
{
	return READ_ONCE(conf->meta->sub_sectors);
}

/*
 * The sub-chunks that sectors [@off, @end) of a chunk touch, @off < @end
 * <= chunk size, @sub sectors per sub-chunk.
 */
static u16 cow_sub_mask(unsigned int sub, unsigned int off, unsigned int end)
{
	return GENMASK((end - 1) / sub, off / sub);
}

static void cow_fail_bio(struct bio *bio, blk_status_t status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

static enum cow_mode cow_mode(struct cow_conf *conf)
{
	return READ_ONCE(conf->mode);
}

static void cow_notify_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(work, struct cow_conf, notify_work);

	sysfs_notify(&conf->mddev->kobj, "cow", "state");
	/* mdadm --monitor sleeps on /proc/mdstat: wake it. */
	md_new_event();
}

/*
 * Move to @mode: up only, except NO_SPACE -> WRITE.  Any context.  Returns
 * true if the mode changed.
 */
static bool cow_set_mode(struct cow_conf *conf, enum cow_mode mode)
{
	int old = READ_ONCE(conf->mode);

	do {
		if (old == mode ||
		    (mode < old && !(old == COW_MODE_NO_SPACE &&
				     mode == COW_MODE_WRITE)))
			return false;
	} while (!try_cmpxchg(&conf->mode, &old, mode));
	pr_info("md/cow:%s: mode %s -> %s\n", mdname(conf->mddev),
		cow_mode_names[old], cow_mode_names[mode]);
	queue_work(conf->wq, &conf->notify_work);
	return true;
}

/*
 * Commits write the dirty device: never while md holds the array read-only
 * (mdadm --readonly; auto-read-only switches to read-write at the first
 * write and is not a promise of no writes), nor after a failure.
 */
static bool cow_may_commit(struct cow_conf *conf)
{
	return READ_ONCE(conf->mddev->ro) != MD_RDONLY &&
		cow_mode(conf) != COW_MODE_FAIL;
}

static void cow_queue_commit(struct cow_conf *conf)
{
	queue_work(conf->wq, &conf->commit_work);
}

/* The metadata layer found map damage (and set needs_check): read-only. */
static void cow_damage_seen(struct cow_conf *conf)
{
	cow_set_mode(conf, COW_MODE_READ_ONLY);
	cow_queue_commit(conf);	/* records the needs_check flag */
}

/* @bio completes (or goes on) after the next commit. */
static void cow_wait_commit(struct cow_conf *conf, struct bio *bio)
{
	spin_lock(&conf->lock);
	bio_list_add(&conf->flush_bios, bio);
	spin_unlock(&conf->lock);
	cow_queue_commit(conf);
}

/*
 * A REQ_NOWAIT bio that would have to wait (for a worker, a commit or
 * memory) is completed with BLK_STS_AGAIN; returns true if it was.
 */
static bool cow_nowait_refused(struct bio *bio)
{
	if (!(bio->bi_opf & REQ_NOWAIT))
		return false;
	bio_wouldblock_error(bio);
	return true;
}

/*
 * A write to the dirty device failed.  BLK_STS_AGAIN only says the device
 * was busy (tag exhaustion, a suspended dm device); anything else fails
 * the array (md_error() -> cow_error()).  Any context.
 */
static void cow_dirty_write_error(struct cow_conf *conf, blk_status_t status)
{
	if (status == BLK_STS_AGAIN)
		return;
	pr_err_ratelimited("md/cow:%s: write to dirty device %pg failed (%d)\n",
			   mdname(conf->mddev), conf->dirty->bdev,
			   blk_status_to_errno(status));
	md_error(conf->mddev, conf->dirty);
}

/* Send a bio of an unwritten chunk to the origin, or answer zeros. */
static void cow_read_origin(struct cow_conf *conf, struct bio *bio)
{
	if (!conf->origin && READ_ONCE(conf->meta->has_origin)) {
		/* The origin was lost (cow_merge_claim()): never zeros. */
		bio_io_error(bio);
		return;
	}
	if (!conf->origin) {
		zero_fill_bio(bio);
		bio_endio(bio);
		return;
	}
	bio_set_dev(bio, conf->origin);
	submit_bio_noacct(bio);
}

static void cow_remap_endio(struct bio *clone)
{
	struct cow_remap *r = container_of(clone, struct cow_remap, clone);
	struct bio *bio = clone->bi_private;

	if (clone->bi_status && bio_data_dir(clone) == WRITE)
		cow_dirty_write_error(r->conf, clone->bi_status);
	bio->bi_status = clone->bi_status;
	srcu_up_read(&r->conf->io_srcu, r->srcu_idx);
	bio_put(clone);
	bio_endio(bio);
}

/*
 * Send @bio to @slot through a clone that holds io_srcu until it
 * completes (the caller looked the slot up inside io_srcu); a write's
 * completion sees write errors (the array fails on them).
 */
static void cow_remap_dirty(struct cow_conf *conf, struct bio *bio, u64 slot)
{
	sector_t sector = conf->dirty->data_offset +
			  cow_md_slot_sector(conf->md, slot) +
			  cow_chunk_offset(conf, bio->bi_iter.bi_sector);
	struct cow_remap *r;
	struct bio *clone;

	clone = bio_alloc_clone(conf->dirty->bdev, bio,
				bio->bi_opf & REQ_NOWAIT ? GFP_NOWAIT : GFP_NOIO,
				&conf->bs);
	if (!clone) {
		/* Only a NOWAIT allocation can fail. */
		bio_wouldblock_error(bio);
		return;
	}
	r = container_of(clone, struct cow_remap, clone);
	r->conf = conf;
	r->srcu_idx = srcu_down_read(&conf->io_srcu);
	clone->bi_iter.bi_sector = sector;
	clone->bi_private = bio;
	clone->bi_end_io = cow_remap_endio;
	submit_bio_noacct(clone);
}

static void cow_start_copyup(struct cow_conf *conf, struct bio *bio, u64 chunk,
			     bool mapped);

/*
 * A read of a chunk whose slot lacks some of the sub-chunks in @missing:
 * split it where the source changes between the slot and the origin.
 * The pieces come from a bioset with a rescuer, so waiting for one in
 * submit_bio context cannot deadlock on the pieces queued before it.
 */
static void cow_read_partial(struct cow_conf *conf, struct bio *bio, u64 slot,
			     u16 missing, unsigned int sub)
{
	gfp_t gfp = bio->bi_opf & REQ_NOWAIT ? GFP_NOWAIT : GFP_NOIO;
	struct bio *piece;

	do {
		unsigned int off = cow_chunk_offset(conf, bio->bi_iter.bi_sector);
		unsigned int end = off + bio_sectors(bio);
		bool in_origin = missing & BIT(off / sub);
		unsigned int run = round_up(off + 1, sub);

		while (run < end && !!(missing & BIT(run / sub)) == in_origin)
			run += sub;
		piece = bio;
		if (run < end) {
			piece = bio_split(bio, run - off, gfp, &conf->split_bs);
			if (IS_ERR_OR_NULL(piece)) {
				if (bio->bi_opf & REQ_NOWAIT)
					bio_wouldblock_error(bio);
				else
					bio_io_error(bio);
				return;
			}
			bio_chain(piece, bio);
		}
		if (in_origin)
			cow_read_origin(conf, piece);
		else
			cow_remap_dirty(conf, piece, slot);
	} while (piece != bio);
}

static void cow_map_bio(struct cow_conf *conf, struct bio *bio);

/**
 * struct cow_fill - a request of hydration to fill one chunk from the
 * origin: a bio that carries no data, only the chunk's range, and goes
 * through the chunk's worker like a first write, so that it never runs
 * beside a copy-up or a discard of the chunk.
 * @conf: the array
 * @sectors: what cow_hydrate_sync() counted for it
 * @promote: a promotion of copy-on-read (md-cow-cache.h), not a fill of
 *	hydration: the chunk, if still unmapped, is mapped as a clean chunk
 * @merge: a request of a merge: what the chunk holds goes to the origin,
 *	then the chunk is unmapped
 * @promoted: set by the worker when it mapped the chunk clean
 * @bio: REQ_OP_READ, the chunk's range, no pages; ends with the status
 *	of the fill (cow_fill_endio)
 */
struct cow_fill {
	struct cow_conf *conf;
	unsigned int sectors;
	bool promote;
	bool promoted;
	bool merge;
	struct bio bio;
};

static void cow_fill_endio(struct bio *bio)
{
	struct cow_fill *f = container_of(bio, struct cow_fill, bio);

	if (f->promote)
		cow_cache_promote_done(&f->conf->cache, f->promoted);
	else
		cow_hydrate_filled(&f->conf->hydrate, f->sectors,
				   blk_status_to_errno(bio->bi_status));
	bio_uninit(bio);
	kfree(f);
}

static bool cow_is_fill(struct bio *bio)
{
	return bio->bi_end_io == cow_fill_endio;
}

/* A fill that is a promotion of copy-on-read. */
static struct cow_fill *cow_promotion(struct bio *bio)
{
	struct cow_fill *f;

	if (!cow_is_fill(bio))
		return NULL;
	f = container_of(bio, struct cow_fill, bio);
	return f->promote ? f : NULL;
}

/* A fill that is a request of a merge. */
static bool cow_is_merge(struct bio *bio)
{
	return cow_is_fill(bio) && container_of(bio, struct cow_fill, bio)->merge;
}

/*
 * Format 2: the sub-chunks that sectors [@off, @end) of @chunk cover
 * entirely (up to the end of the array); 0 without sub-chunks.
 */
static u16 cow_covered_subs(struct cow_conf *conf, u64 chunk,
			    unsigned int off, unsigned int end)
{
	unsigned int sub = cow_sub_sectors(conf);
	unsigned int len = cow_chunk_len(conf, chunk);
	unsigned int lo, hi;

	if (!sub)
		return 0;
	lo = DIV_ROUND_UP(off, sub);
	hi = end >= len ? DIV_ROUND_UP(len, sub) : end / sub;
	return hi > lo ? GENMASK(hi - 1, lo) : 0;
}

/*
 * Carry out a write-zeroes of part of a chunk (or one that must not
 * unmap: REQ_NOUNMAP) as a write of zero pages, which takes the way of
 * any write.  The pages come from a bioset with a rescuer.
 */
static void cow_zero_write(struct cow_conf *conf, struct bio *bio)
{
	unsigned int bytes = bio->bi_iter.bi_size;
	blk_opf_t opf = REQ_OP_WRITE |
			(bio->bi_opf & (REQ_FUA | REQ_NOWAIT | REQ_SYNC));
	struct bio *zb;

	zb = bio_alloc_bioset(NULL, DIV_ROUND_UP(bytes, PAGE_SIZE), opf,
			      bio->bi_opf & REQ_NOWAIT ? GFP_NOWAIT : GFP_NOIO,
			      &conf->zero_bs);
	if (!zb) {
		/* Only a NOWAIT allocation can fail. */
		bio_wouldblock_error(bio);
		return;
	}
	zb->bi_iter.bi_sector = bio->bi_iter.bi_sector;
	while (bytes) {
		unsigned int n = min_t(unsigned int, bytes, PAGE_SIZE);

		__bio_add_page(zb, ZERO_PAGE(0), n, 0);
		bytes -= n;
	}
	bio_chain(zb, bio);
	cow_map_bio(conf, zb);
	bio_endio(bio);
}

/*
 * A discard or write-zeroes inside @chunk.  What changes the map runs in
 * the chunk's worker, after any copy-up of it, so that no fill of its slot
 * is in flight when it is unmapped.
 */
static void cow_route_unmap(struct cow_conf *conf, struct bio *bio, u64 chunk)
{
	unsigned int off = cow_chunk_offset(conf, bio->bi_iter.bi_sector);
	unsigned int end = off + bio_sectors(bio);
	bool whole = !off && end >= cow_chunk_len(conf, chunk);

	if (bio_op(bio) == REQ_OP_WRITE_ZEROES) {
		if (!whole || (bio->bi_opf & REQ_NOUNMAP))
			cow_zero_write(conf, bio);
		else
			cow_start_copyup(conf, bio, chunk, true);
		return;
	}
	/* A discard: of an unmapped chunk, or of no whole sub-chunk, is done. */
	if (!cow_md_is_mapped(conf->md, chunk) ||
	    (!whole && !cow_covered_subs(conf, chunk, off, end))) {
		bio_endio(bio);
		return;
	}
	cow_start_copyup(conf, bio, chunk, true);
}

/*
 * Route one bio that lies inside one chunk.  Called from make_request and
 * from the workers; sleeps only to allocate from mempools (never for a
 * REQ_NOWAIT bio).  @committed: the bio found its chunk mapped (with the
 * sub-chunks it touches in the slot), then waited for a commit that
 * started after that and has completed, so a FUA write need not wait for
 * another one (under a steady stream of first writes there is always
 * something uncommitted).
 *
 * io_srcu is held from the lookup until the bio is sent to the slot (the
 * clone holds it on until completion), and never while waiting for
 * anything but a clone: a slot that a discard freed waits for it.
 */
static void __cow_map_bio(struct cow_conf *conf, struct bio *bio,
			  bool committed)
{
	u64 chunk = cow_chunk_of(conf, bio->bi_iter.bi_sector);
	bool write = bio_data_dir(bio) == WRITE;
	u16 missing, touched = 0;
	int err, idx;
	u64 slot;

	if (unlikely(op_is_discard(bio->bi_opf) ||
		     bio_op(bio) == REQ_OP_WRITE_ZEROES)) {
		cow_route_unmap(conf, bio, chunk);
		return;
	}
	if (unlikely(cow_is_merge(bio))) {
		/* Nothing to merge from an unmapped chunk. */
		if (!cow_md_is_mapped(conf->md, chunk))
			bio_endio(bio);
		else
			cow_start_copyup(conf, bio, chunk, true);
		return;
	}
	if (unlikely(cow_is_fill(bio))) {
		/*
		 * Mapped whole (not clean), or a zero chunk: nothing reads
		 * the origin; a promotion has nothing to do with any mapped
		 * chunk.
		 */
		if (cow_md_is_mapped(conf->md, chunk) &&
		    (cow_promotion(bio) ||
		     (!cow_md_lookup(conf->md, chunk, &slot, &missing) &&
		      (!missing || slot == COW_MD_SLOT_ZERO)))) {
			bio_endio(bio);
			return;
		}
		cow_start_copyup(conf, bio, chunk,
				 cow_md_is_mapped(conf->md, chunk));
		return;
	}
again:
	if (!cow_md_is_mapped(conf->md, chunk)) {
		if (!write)
			cow_read_origin(conf, bio);
		else
			cow_start_copyup(conf, bio, chunk, false);
		return;
	}
	idx = srcu_read_lock(&conf->io_srcu);
	err = cow_md_lookup(conf->md, chunk, &slot, &missing);
	if (!err && missing == COW_MD_CLEAN) {
		/*
		 * A clean chunk: read from its slot; a write maps the chunk
		 * to a new slot in its worker (the clean one stays intact
		 * until that is committed).
		 */
		if (write) {
			srcu_read_unlock(&conf->io_srcu, idx);
			cow_start_copyup(conf, bio, chunk, true);
			return;
		}
		missing = 0;
		cow_cache_hit(&conf->cache);
	}
	if (!err && write && unlikely(cow_md_merging(conf->md))) {
		/*
		 * While a merge runs, writes to mapped chunks are carried out
		 * in the chunk's worker, so that none lands in a slot that the
		 * merge has copied and is about to free.  (The merge started
		 * with the array suspended: no write went around it.)
		 */
		srcu_read_unlock(&conf->io_srcu, idx);
		cow_start_copyup(conf, bio, chunk, true);
		return;
	}
	if (!err && missing) {
		unsigned int off = cow_chunk_offset(conf, bio->bi_iter.bi_sector);

		touched = cow_sub_mask(cow_sub_sectors(conf), off,
				       off + bio_sectors(bio)) & missing;
	}
	if (!err && slot != COW_MD_SLOT_ZERO && !(write && touched)) {
		if (touched) {
			cow_read_partial(conf, bio, slot, missing,
					 cow_sub_sectors(conf));
			srcu_read_unlock(&conf->io_srcu, idx);
			return;
		}
		if (!committed && write && (bio->bi_opf & REQ_FUA)) {
			struct cow_md_stats st;

			/* The mapping must be durable too before FUA completes. */
			cow_md_get_stats(conf->md, &st);
			if (st.uncommitted) {
				srcu_read_unlock(&conf->io_srcu, idx);
				if (!cow_nowait_refused(bio))
					cow_wait_commit(conf, bio);
				return;
			}
		}
		cow_remap_dirty(conf, bio, slot);
		srcu_read_unlock(&conf->io_srcu, idx);
		return;
	}
	srcu_read_unlock(&conf->io_srcu, idx);

	if (err == -ENOENT)
		goto again;	/* a discard unmapped it just now */
	if (err == -EAGAIN) {
		if (cow_nowait_refused(bio))
			return;
		spin_lock(&conf->lock);
		bio_list_add(&conf->deferred, bio);
		spin_unlock(&conf->lock);
		queue_work(conf->wq, &conf->deferred_work);
		return;
	}
	if (err) {
		/* Damage: the metadata layer set needs_check. */
		cow_damage_seen(conf);
		cow_fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (slot == COW_MD_SLOT_ZERO && !write) {
		zero_fill_bio(bio);
		bio_endio(bio);
		return;
	}
	/*
	 * A write to missing sub-chunks, or the first write of a zero chunk
	 * (which gives it a slot full of zeros): the chunk's worker.
	 */
	cow_start_copyup(conf, bio, chunk, true);
}

static void cow_map_bio(struct cow_conf *conf, struct bio *bio)
{
	__cow_map_bio(conf, bio, false);
}

static struct cow_pending *__cow_pending_find(struct cow_conf *conf, u64 chunk)
{
	struct cow_pending *p;

	lockdep_assert_held(&conf->lock);
	hash_for_each_possible(conf->pending, p, hnode, chunk)
		if (p->chunk == chunk)
			return p;
	return NULL;
}

static void cow_copyup_work(struct work_struct *work);

/*
 * Queue a write for the worker that fills its chunk: an unmapped chunk
 * (@mapped false: the first write, a copy-up) or sub-chunks missing from
 * a mapped chunk's slot.
 */
static void cow_start_copyup(struct cow_conf *conf, struct bio *bio, u64 chunk,
			     bool mapped)
{
	struct cow_pending *p, *new;

	if (cow_mode(conf) >= COW_MODE_READ_ONLY) {
		cow_fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	/* A first write always waits for a worker. */
	if (cow_nowait_refused(bio))
		return;
	/* Waits for a free element at worst: never fails. */
	new = mempool_alloc(&conf->pending_pool, GFP_NOIO);

	spin_lock(&conf->lock);
	if (!mapped && cow_md_is_mapped(conf->md, chunk)) {
		/* Lost a race with the copy-up that just finished. */
		spin_unlock(&conf->lock);
		mempool_free(new, &conf->pending_pool);
		cow_map_bio(conf, bio);
		return;
	}
	p = __cow_pending_find(conf, chunk);
	if (p) {
		bio_list_add(&p->bios, bio);
		spin_unlock(&conf->lock);
		mempool_free(new, &conf->pending_pool);
		return;
	}
	memset(new, 0, sizeof(*new));
	new->chunk = chunk;
	new->conf = conf;
	bio_list_init(&new->bios);
	bio_list_add(&new->bios, bio);
	INIT_WORK(&new->work, cow_copyup_work);
	INIT_LIST_HEAD(&new->park);
	hash_add(conf->pending, &new->hnode, chunk);
	spin_unlock(&conf->lock);
	queue_work(conf->copy_wq, &new->work);
}

/* mempool element constructor: a chunk buffer of pool_data pages. */
static void *cow_copybuf_alloc(gfp_t gfp, void *pool_data)
{
	unsigned int nr = (unsigned long)pool_data, i;
	struct cow_copybuf *buf;

	if (cow_fail_alloc())
		return NULL;
	buf = kmalloc(struct_size(buf, bvec, 2 * nr), gfp);
	if (!buf)
		return NULL;
	buf->nr = nr;
	for (i = 0; i < nr; i++) {
		struct page *page = alloc_page(gfp);

		if (!page)
			goto out_free;
		bvec_set_page(&buf->bvec[i], page, PAGE_SIZE, 0);
	}
	return buf;

out_free:
	while (i--)
		__free_page(buf->bvec[i].bv_page);
	kfree(buf);
	return NULL;
}

/* mempool element constructor: a copy-up tracker. */
static void *cow_pending_alloc(gfp_t gfp, void *pool_data)
{
	if (cow_fail_alloc())
		return NULL;
	return kmalloc(sizeof(struct cow_pending), gfp);
}

static void cow_pending_free(void *element, void *pool_data)
{
	kfree(element);
}

static void cow_copybuf_free(void *element, void *pool_data)
{
	struct cow_copybuf *buf = element;
	unsigned int i;

	for (i = 0; i < buf->nr; i++)
		__free_page(buf->bvec[i].bv_page);
	kfree(buf);
}

/* Point the buffer's bio at sectors [@off, @off + @len) of the buffer. */
static struct bio *cow_copybuf_bio(struct cow_copybuf *buf,
				   struct block_device *bdev, blk_opf_t opf,
				   sector_t sector, unsigned int off,
				   unsigned int len)
{
	unsigned int pos = off << SECTOR_SHIFT, bytes = len << SECTOR_SHIFT;
	struct bio *bio = &buf->bio;

	bio_init(bio, bdev, &buf->bvec[buf->nr], buf->nr, opf);
	bio->bi_iter.bi_sector = sector;
	while (bytes) {
		unsigned int poff = offset_in_page(pos);
		unsigned int n = min_t(unsigned int, bytes, PAGE_SIZE - poff);

		__bio_add_page(bio, buf->bvec[pos >> PAGE_SHIFT].bv_page, n,
			       poff);
		pos += n;
		bytes -= n;
	}
	return bio;
}

/*
 * Copy the data of @wbio, a write inside @chunk, into the chunk buffer
 * @buf at the write's offset in the chunk.
 */
static void cow_merge_write(struct cow_conf *conf, struct cow_copybuf *buf,
			    struct bio *wbio)
{
	unsigned int off = cow_chunk_offset(conf, wbio->bi_iter.bi_sector) << SECTOR_SHIFT;
	struct bvec_iter iter;
	struct bio_vec bv;

	/* The loop advances by bv.bv_len: copy through locals. */
	bio_for_each_segment(bv, wbio, iter) {
		unsigned int soff = bv.bv_offset, left = bv.bv_len;

		while (left) {
			struct page *dst = buf->bvec[off >> PAGE_SHIFT].bv_page;
			unsigned int doff = offset_in_page(off);
			unsigned int n = min(left, (unsigned int)PAGE_SIZE - doff);

			memcpy_from_page(page_address(dst) + doff,
					 bv.bv_page, soff, n);
			soff += n;
			left -= n;
			off += n;
		}
	}
}

/*
 * Read sectors [@off, @end) of @chunk from the origin into the same place
 * of @buf; zeros without an origin, or with @zero (a zero chunk).
 */
static int __cow_read_origin_range(struct cow_conf *conf,
				   struct cow_copybuf *buf, u64 chunk,
				   unsigned int off, unsigned int end, bool zero)
{
	struct bio *bio;
	int err;

	bio = cow_copybuf_bio(buf, conf->origin, REQ_OP_READ,
			      (chunk << conf->chunk_shift) + off, off,
			      end - off);
	if (conf->origin && !zero) {
		err = submit_bio_wait(bio);
	} else {
		zero_fill_bio(bio);
		err = 0;
	}
	bio_uninit(bio);
	if (err)
		pr_err_ratelimited("md/cow:%s: cannot read chunk %llu from origin %pg (%d)\n",
				   mdname(conf->mddev), chunk, conf->origin, err);
	return err;
}

static int cow_read_origin_range(struct cow_conf *conf,
				 struct cow_copybuf *buf, u64 chunk,
				 unsigned int off, unsigned int end)
{
	return __cow_read_origin_range(conf, buf, chunk, off, end, false);
}

/* Write sectors [@off, @end) of @buf to the same place of @slot. */
static int cow_write_slot_range(struct cow_conf *conf,
				struct cow_copybuf *buf, u64 slot,
				unsigned int off, unsigned int end)
{
	struct bio *bio;
	int err;

	bio = cow_copybuf_bio(buf, conf->dirty->bdev, REQ_OP_WRITE,
			      conf->dirty->data_offset +
			      cow_md_slot_sector(conf->md, slot) + off, off,
			      end - off);
	err = submit_bio_wait(bio);
	if (err)
		cow_dirty_write_error(conf, bio->bi_status);
	bio_uninit(bio);
	return err;
}

/*
 * Fill @slot with the chunk's current content: origin data (or zeros; all
 * zeros for a zero chunk, @zero) for the part of the chunk inside the
 * array, with the data of @wbio (a write inside the chunk, may be NULL) on
 * top.  Sleeps; never fails for lack of memory.
 */
static int cow_copy_chunk(struct cow_conf *conf, u64 chunk, u64 slot,
			  struct bio *wbio, bool zero)
{
	unsigned int len = cow_chunk_len(conf, chunk);
	struct cow_copybuf *buf;
	int err;

	buf = mempool_alloc(&conf->copy_pool, GFP_NOIO);
	err = __cow_read_origin_range(conf, buf, chunk, 0, len, zero);
	if (!err) {
		if (wbio)
			cow_merge_write(conf, buf, wbio);
		err = cow_write_slot_range(conf, buf, slot, 0, len);
	}
	mempool_free(buf, &conf->copy_pool);
	return err;
}

/* Write @bio, a write inside one chunk, straight to its place in @slot. */
static int cow_write_direct(struct cow_conf *conf, struct bio *bio, u64 slot)
{
	struct bio *clone;
	int err;

	/* From the array's own bioset, in a worker: waits, never fails. */
	clone = bio_alloc_clone(conf->dirty->bdev, bio, GFP_NOIO, &conf->bs);
	clone->bi_opf &= ~(REQ_FUA | REQ_NOWAIT);
	clone->bi_iter.bi_sector = conf->dirty->data_offset +
				   cow_md_slot_sector(conf->md, slot) +
				   cow_chunk_offset(conf, bio->bi_iter.bi_sector);
	err = submit_bio_wait(clone);
	if (err)
		cow_dirty_write_error(conf, clone->bi_status);
	bio_put(clone);
	return err;
}

/*
 * Format 2: put into @slot the sub-chunks of @chunk that @wbio touches and
 * that are missing from the slot (bits in @missing; all of them for a new
 * slot), sub-chunks of @sub sectors.  With @merge, @wbio's data goes in
 * too: one write of the data, widened to the edges of the missing
 * sub-chunks it covers only in part, whose rest is read from the origin (a
 * sub-chunk already in the slot is written only where @wbio writes it, so
 * a concurrent write to its other part is not undone).  Without @merge
 * (a FUA write, sent on its own afterwards) each run of such sub-chunks is
 * copied from the origin.  *@filled is set to the sub-chunks now in the
 * slot.  Sleeps; never fails for lack of memory.
 */
static int cow_fill_subs(struct cow_conf *conf, u64 chunk, u64 slot,
			 struct bio *wbio, bool merge, u16 missing,
			 unsigned int sub, u16 *filled)
{
	unsigned int len = cow_chunk_len(conf, chunk);
	unsigned int off = cow_chunk_offset(conf, wbio->bi_iter.bi_sector);
	unsigned int end = off + bio_sectors(wbio);
	u16 need = cow_sub_mask(sub, off, end) & missing;
	struct cow_copybuf *buf;
	unsigned int lo, hi;
	int err = 0;

	*filled = need;
	if (!need)
		return 0;
	lo = missing & BIT(off / sub) ? round_down(off, sub) : off;
	hi = missing & BIT((end - 1) / sub) ? min(round_up(end, sub), len) : end;
	if (merge && lo == off && hi == end)
		return cow_write_direct(conf, wbio, slot);

	buf = mempool_alloc(&conf->copy_pool, GFP_NOIO);
	if (merge) {
		if (lo < off)
			err = cow_read_origin_range(conf, buf, chunk, lo, off);
		if (!err && end < hi)
			err = cow_read_origin_range(conf, buf, chunk, end, hi);
		if (!err) {
			cow_merge_write(conf, buf, wbio);
			err = cow_write_slot_range(conf, buf, slot, lo, hi);
		}
	} else {
		unsigned long bits = need;
		unsigned int a = find_first_bit(&bits, COW_MD_SUBCHUNKS), b;

		while (!err && a < COW_MD_SUBCHUNKS) {
			b = find_next_zero_bit(&bits, COW_MD_SUBCHUNKS, a);
			lo = a * sub;
			hi = min(b * sub, len);
			err = cow_read_origin_range(conf, buf, chunk, lo, hi);
			if (!err)
				err = cow_write_slot_range(conf, buf, slot, lo,
							   hi);
			a = find_next_bit(&bits, COW_MD_SUBCHUNKS, b);
		}
	}
	mempool_free(buf, &conf->copy_pool);
	return err;
}

/* Raise the low-water event once when free slots fall to the mark. */
static void cow_check_low_water(struct cow_conf *conf)
{
	u64 low = READ_ONCE(conf->low_water);
	struct cow_md_stats st;

	cow_md_get_stats(conf->md, &st);
	/* Clean chunks make room first, and count as free space. */
	if (st.clean_chunks && st.total_slots - st.used_slots <= low)
		queue_work(conf->wq, &conf->evict_work);
	if (st.total_slots - st.used_slots + st.clean_chunks > low ||
	    xchg(&conf->low, true))
		return;
	pr_notice("md/cow:%s: dirty device %pg is low on space: %llu of %llu slots free\n",
		  mdname(conf->mddev), conf->dirty->bdev,
		  st.total_slots - st.used_slots, st.total_slots);
	queue_work(conf->wq, &conf->notify_work);
}

static blk_status_t cow_errno_to_status(int err)
{
	return err == -ENOSPC ? BLK_STS_NOSPC : errno_to_blk_status(err);
}

/* Unhash @p, free it, and fail every bio that waited on it. */
static void cow_pending_fail(struct cow_conf *conf, struct cow_pending *p,
			     int err)
{
	struct bio_list bios;
	struct bio *bio;

	spin_lock(&conf->lock);
	hash_del(&p->hnode);
	bios = p->bios;
	spin_unlock(&conf->lock);
	mempool_free(p, &conf->pending_pool);
	while ((bio = bio_list_pop(&bios)))
		cow_fail_bio(bio, cow_errno_to_status(err));
}

/*
 * Give the parked first writes another try (space grew) or fail them with
 * ENOSPC (stop, suspend, policy changed to "error").
 */
static void cow_unpark(struct cow_conf *conf, bool fail)
{
	struct cow_pending *p, *tmp;
	LIST_HEAD(list);

	spin_lock(&conf->lock);
	list_splice_init(&conf->parked, &list);
	spin_unlock(&conf->lock);
	list_for_each_entry_safe(p, tmp, &list, park) {
		list_del_init(&p->park);
		if (fail)
			cow_pending_fail(conf, p, -ENOSPC);
		else
			queue_work(conf->copy_wq, &p->work);
	}
}

/*
 * Park @p until space grows.  Returns false (nothing parked) when writes
 * must fail at once: policy "error", an earlier timeout, or a stop.
 */
static bool cow_park(struct cow_conf *conf, struct cow_pending *p)
{
	bool parked = false;

	spin_lock(&conf->lock);
	if (READ_ONCE(conf->queue_on_full) && !READ_ONCE(conf->nospace_expired) &&
	    !conf->stopping) {
		p->park_until = jiffies + READ_ONCE(conf->nospace_timeout_s) * HZ;
		list_add_tail(&p->park, &conf->parked);
		/* Armed under the lock: growth cannot slip in between. */
		mod_delayed_work(conf->wq, &conf->nospace_work, 0);
		parked = true;
	}
	spin_unlock(&conf->lock);
	return parked;
}

/*
 * Fail the parked writes whose time is up, and all of them if the array is
 * being suspended (parked bios hold md's active_io, which a suspend waits
 * for); re-arm for the next one.
 */
static void cow_nospace_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(to_delayed_work(work),
					     struct cow_conf, nospace_work);
	bool suspending = percpu_ref_is_dying(&conf->mddev->active_io);
	bool fail_all = suspending || !READ_ONCE(conf->queue_on_full);
	struct cow_pending *p, *tmp;
	unsigned long next = 0;
	LIST_HEAD(expired);

	spin_lock(&conf->lock);
	list_for_each_entry_safe(p, tmp, &conf->parked, park) {
		if (fail_all || time_after_eq(jiffies, p->park_until)) {
			list_move_tail(&p->park, &expired);
			continue;
		}
		next = p->park_until;
		break;
	}
	if (!list_empty(&expired) && !fail_all)
		WRITE_ONCE(conf->nospace_expired, true);
	if (!list_empty(&conf->parked))
		mod_delayed_work(conf->wq, &conf->nospace_work,
				 min_t(unsigned long, next - jiffies,
				       COW_PARK_POLL));
	spin_unlock(&conf->lock);

	if (list_empty(&expired))
		return;
	if (suspending)
		pr_warn("md/cow:%s: the array is being suspended: failing writes waiting for space with ENOSPC\n",
			mdname(conf->mddev));
	else if (fail_all)
		pr_warn("md/cow:%s: no-space policy is now error: failing waiting writes with ENOSPC\n",
			mdname(conf->mddev));
	else
		pr_warn("md/cow:%s: no space after %u s: failing waiting writes with ENOSPC\n",
			mdname(conf->mddev), READ_ONCE(conf->nospace_timeout_s));
	list_for_each_entry_safe(p, tmp, &expired, park) {
		list_del_init(&p->park);
		cow_pending_fail(conf, p, -ENOSPC);
	}
}

/* No slot for @p's chunk: enter NO_SPACE, then park @p or fail it. */
static void cow_no_space(struct cow_conf *conf, struct cow_pending *p)
{
	if (cow_set_mode(conf, COW_MODE_NO_SPACE))
		pr_warn("md/cow:%s: dirty device %pg is full: writes to unwritten chunks %s\n",
			mdname(conf->mddev), conf->dirty->bdev,
			READ_ONCE(conf->queue_on_full) ?
			"wait for more space" : "fail with ENOSPC");
	if (!cow_park(conf, p))
		cow_pending_fail(conf, p, -ENOSPC);
}

/*
 * Map @chunk to @slot, waiting out memory shortage.  On failure the slot
 * is given back and the array's mode follows what the map code found.
 */
static int cow_insert(struct cow_conf *conf, u64 chunk, u64 slot, u16 missing)
{
	int err;

	while ((err = cow_md_insert(conf->md, chunk, slot, missing)) == -ENOMEM)
		memalloc_retry_wait(GFP_NOIO);
	if (!err)
		return 0;
	cow_md_free_slot(conf->md, slot);
	if (err == -EUCLEAN)
		cow_damage_seen(conf);
	return err;
}

/* Record filled sub-chunks, waiting out memory shortage. */
static int cow_fill(struct cow_conf *conf, u64 chunk, u16 filled)
{
	int err;

	while ((err = cow_md_fill(conf->md, chunk, filled)) == -ENOMEM)
		memalloc_retry_wait(GFP_NOIO);
	if (err == -EUCLEAN)
		cow_damage_seen(conf);
	return err;
}

/*
 * Format 2: fill the sub-chunks of a mapped chunk (in @slot, @missing from
 * it) that @first (a write) touches and that are missing from its slot.
 * *@done: @first went into the slot with them.
 */
static int cow_fill_mapped(struct cow_conf *conf, u64 chunk, u64 slot,
			   u16 missing, struct bio *first, bool merge,
			   bool *done)
{
	u16 filled;
	int err;

	if (!missing)
		return 0;
	err = cow_fill_subs(conf, chunk, slot, first, merge, missing,
			    cow_sub_sectors(conf), &filled);
	if (!err && filled) {
		err = cow_fill(conf, chunk, filled);
		*done = merge && !err;
	}
	return err;
}

static u64 cow_evict(struct cow_conf *conf);

/*
 * The first write of an unmapped chunk, or of a zero chunk (@zero): take a
 * slot, fill it and map the chunk.  Returns -EAGAIN when there is no slot
 * (@p is then parked or failed).  *@done: @first went into the slot.
 */
static int cow_copyup(struct cow_conf *conf, struct cow_pending *p,
		      struct bio *first, bool merge, bool zero, bool *done)
{
	unsigned int sub = cow_sub_sectors(conf);
	u16 missing = 0;
	u64 slot;
	int err;

	err = cow_md_alloc_slot(conf->md, &slot);
	if (err && cow_evict(conf))
		err = cow_md_alloc_slot(conf->md, &slot);
	if (err) {
		cow_no_space(conf, p);
		return -EAGAIN;
	}
	cow_check_low_water(conf);
	if (merge && first->bi_iter.bi_size >> 9 == cow_chunk_len(conf, p->chunk)) {
		err = cow_write_direct(conf, first, slot);
	} else if (sub && !zero) {
		u16 exist = cow_md_subchunks(conf->md, p->chunk), filled;

		err = cow_fill_subs(conf, p->chunk, slot, first, merge, exist,
				    sub, &filled);
		missing = exist & ~filled;
	} else {
		err = cow_copy_chunk(conf, p->chunk, slot, merge ? first : NULL,
				     zero);
	}
	if (err)
		cow_md_free_slot(conf->md, slot);
	else
		err = cow_insert(conf, p->chunk, slot, missing);
	*done = merge && !err;
	return err;
}

/*
 * The map change of a discard or a whole-chunk write-zeroes (@bio) of
 * @chunk, in the chunk's worker: no copy-up of the chunk is in flight.
 */
static int cow_unmap_chunk(struct cow_conf *conf, u64 chunk, struct bio *bio)
{
	unsigned int off = cow_chunk_offset(conf, bio->bi_iter.bi_sector);
	unsigned int end = off + bio_sectors(bio);
	u16 subs = 0xffff;
	int err;

	if (bio_op(bio) == REQ_OP_DISCARD) {
		if (off || end < cow_chunk_len(conf, chunk)) {
			subs = cow_covered_subs(conf, chunk, off, end);
			if (!subs)
				return 0;
		}
		while ((err = cow_md_discard(conf->md, chunk, subs)) == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
	} else {
		while ((err = cow_md_zero(conf->md, chunk)) == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
	}
	if (err == -EUCLEAN)
		cow_damage_seen(conf);
	return err;
}

/*
 * Copy-on-read, in @chunk's worker: copy the chunk from the origin into a
 * free slot and map it as a clean chunk (@f->promoted), unless it was
 * mapped meanwhile, free slots are at or below twice the low-water mark
 * (they are kept for writes), or the array may not write.
 */
static int cow_promote_chunk(struct cow_conf *conf, u64 chunk,
			     struct cow_fill *f)
{
	struct cow_md_stats st;
	u64 slot;
	int err;

	if (cow_md_is_mapped(conf->md, chunk) || !conf->origin ||
	    !cow_md_cache(conf->md) || !cow_may_commit(conf) ||
	    cow_mode(conf) != COW_MODE_WRITE)
		return 0;
	cow_md_get_stats(conf->md, &st);
	if (st.total_slots - st.used_slots <= 2 * READ_ONCE(conf->low_water) ||
	    cow_md_alloc_slot(conf->md, &slot))
		return 0;
	err = cow_copy_chunk(conf, chunk, slot, NULL, false);
	if (err) {
		cow_md_free_slot(conf->md, slot);
		return err;
	}
	err = cow_insert(conf, chunk, slot, COW_MD_CLEAN);
	f->promoted = !err;
	return err;
}

/*
 * @bio, a write to a mapped chunk in @slot that its worker has not carried
 * out (*@done false): while a merge runs (see __cow_map_bio()), it is
 * carried out here, in the worker, rather than sent to the slot later; a
 * FUA write is durable, mapping included, before it completes.  Anything
 * else is left as it is.
 */
static int cow_write_if_merging(struct cow_conf *conf, struct bio *bio,
				u64 slot, bool *done)
{
	int err;

	if (*done || bio_op(bio) != REQ_OP_WRITE || !cow_md_merging(conf->md))
		return 0;
	err = cow_write_direct(conf, bio, slot);

	if (!err && (bio->bi_opf & REQ_FUA)) {
		err = cow_md_commit(conf->md);
		if (err < 0 && cow_mode(conf) != COW_MODE_FAIL)
			md_error(conf->mddev, conf->dirty);
		if (!err)	/* nothing to commit: the data still needs a flush */
			err = blkdev_issue_flush(conf->dirty->bdev);
		if (err > 0)
			err = 0;
	}
	*done = !err;
	return err;
}

/*
 * A request of a merge, in @chunk's worker: write what the chunk holds in
 * the dirty device (the sub-chunks in its slot, or zeros for a zero chunk)
 * to the same place of the origin, with FUA, then unmap the chunk, which
 * from then on reads the same bytes from the origin.  A clean chunk holds
 * nothing the origin lacks.  A crash before the unmap is committed finds
 * the chunk still mapped, and the merge writes it again.
 */
static int cow_merge_chunk(struct cow_conf *conf, u64 chunk)
{
	unsigned int len = cow_chunk_len(conf, chunk);
	unsigned int sub = cow_sub_sectors(conf);
	sector_t at = (sector_t)chunk << conf->chunk_shift;
	struct cow_copybuf *buf;
	unsigned long bits;
	unsigned int a, b;
	u16 missing;
	u64 slot;
	int err;

	if (!conf->origin || !cow_md_merging(conf->md))
		return -EIO;
	while ((err = cow_md_lookup_slow(conf->md, chunk, &slot, &missing)) ==
	       -ENOMEM)
		memalloc_retry_wait(GFP_NOIO);
	if (err == -ENOENT || (!err && missing == COW_MD_CLEAN))
		return 0;
	if (err) {
		if (err == -EUCLEAN)
			cow_damage_seen(conf);
		return err;
	}
	if (slot == COW_MD_SLOT_ZERO) {
		err = blkdev_issue_zeroout(conf->origin, at, len, GFP_NOIO, 0);
		if (!err)
			err = blkdev_issue_flush(conf->origin);
	} else {
		/* The runs of sub-chunks in the slot (all of it without). */
		bits = sub ? (unsigned long)(u16)~missing &
			     cow_md_subchunks(conf->md, chunk) : 1;
		buf = mempool_alloc(&conf->copy_pool, GFP_NOIO);
		for (a = find_first_bit(&bits, COW_MD_SUBCHUNKS);
		     !err && a < COW_MD_SUBCHUNKS;
		     a = find_next_bit(&bits, COW_MD_SUBCHUNKS, b)) {
			unsigned int lo, hi;
			struct bio *bio;

			b = find_next_zero_bit(&bits, COW_MD_SUBCHUNKS, a);
			lo = sub ? a * sub : 0;
			hi = sub ? min(b * sub, len) : len;
			bio = cow_copybuf_bio(buf, conf->dirty->bdev, REQ_OP_READ,
					      conf->dirty->data_offset +
					      cow_md_slot_sector(conf->md, slot) + lo,
					      lo, hi - lo);
			err = submit_bio_wait(bio);
			bio_uninit(bio);
			if (err)
				break;
			bio = cow_copybuf_bio(buf, conf->origin,
					      REQ_OP_WRITE | REQ_FUA, at + lo, lo,
					      hi - lo);
			err = submit_bio_wait(bio);
			bio_uninit(bio);
		}
		mempool_free(buf, &conf->copy_pool);
	}
	if (err) {
		pr_err_ratelimited("md/cow:%s: merge: cannot copy chunk %llu to origin %pg (%d)\n",
				   mdname(conf->mddev), chunk, conf->origin, err);
		return err;
	}
	while ((err = cow_md_discard(conf->md, chunk, 0xffff)) == -ENOMEM)
		memalloc_retry_wait(GFP_NOIO);
	if (err == -EUCLEAN)
		cow_damage_seen(conf);
	return err;
}

/*
 * @first, a write or a fill of hydration, found its chunk clean: a fill
 * makes it an ordinary mapped chunk; a write drops it and maps the chunk
 * to a new slot like a first write (the commit that records the new slot
 * frees the clean one, which a crash before it finds intact).
 */
static int cow_unclean(struct cow_conf *conf, struct cow_pending *p,
		       struct bio *first, bool merge, bool *done)
{
	int err;

	do {
		if (cow_is_fill(first))
			err = cow_md_keep(conf->md, p->chunk);
		else
			err = cow_md_evict(conf->md, p->chunk);
		if (err == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
	} while (err == -ENOMEM);
	if (err == -EUCLEAN)
		cow_damage_seen(conf);
	if (err < 0)
		return err;
	if (cow_md_is_mapped(conf->md, p->chunk))
		return 0;	/* kept */
	return cow_copyup(conf, p, first, merge, false, done);
}

static void cow_copyup_work(struct work_struct *work)
{
	struct cow_pending *p = container_of(work, struct cow_pending, work);
	struct cow_conf *conf = p->conf;
	struct bio *first, *bio;
	struct bio_list bios;
	bool merge, done = false;
	u16 missing;
	u64 slot;
	int err;

	spin_lock(&conf->lock);
	first = bio_list_peek(&p->bios);
	spin_unlock(&conf->lock);
	if (cow_mode(conf) >= COW_MODE_READ_ONLY) {
		cow_pending_fail(conf, p, -EIO);
		return;
	}
	/*
	 * The first write goes into the slot with the copy-up (on its own,
	 * or merged into origin data).  A FUA write waits for the commit of
	 * its mapping, so it is sent after.
	 */
	merge = !(first->bi_opf & REQ_FUA) && bio_op(first) == REQ_OP_WRITE;
	if (cow_promotion(first)) {
		err = cow_promote_chunk(conf, p->chunk, cow_promotion(first));
		done = true;
	} else if (cow_is_merge(first)) {
		err = cow_merge_chunk(conf, p->chunk);
		done = true;
	} else if (bio_op(first) != REQ_OP_WRITE && !cow_is_fill(first)) {
		/* Discard or write-zeroes: it ends here, with its status. */
		err = cow_unmap_chunk(conf, p->chunk, first);
		done = true;
	} else if (!cow_md_is_mapped(conf->md, p->chunk)) {
		err = cow_copyup(conf, p, first, merge, false, &done);
	} else {
		while ((err = cow_md_lookup_slow(conf->md, p->chunk, &slot,
						 &missing)) == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
		if (err == -EUCLEAN)
			cow_damage_seen(conf);
		if (!err && missing == COW_MD_CLEAN)
			err = cow_unclean(conf, p, first, merge, &done);
		else if (err == -ENOENT)	/* unmapped since it was queued */
			err = cow_copyup(conf, p, first, merge, false, &done);
		else if (!err && slot == COW_MD_SLOT_ZERO && !cow_is_fill(first))
			err = cow_copyup(conf, p, first, merge, true, &done);
		else if (!err && slot == COW_MD_SLOT_ZERO)
			;	/* a fill: a zero chunk reads nothing from the origin */
		else if (!err)
			err = cow_fill_mapped(conf, p->chunk, slot, missing,
					      first, merge, &done) ?:
			      cow_write_if_merging(conf, first, slot, &done);
	}
	if (err == -EAGAIN)
		return;
	if (!err && cow_md_wants_commit(conf->md))
		cow_queue_commit(conf);

	spin_lock(&conf->lock);
	hash_del(&p->hnode);
	bios = p->bios;
	spin_unlock(&conf->lock);
	mempool_free(p, &conf->pending_pool);

	/*
	 * A failed write to the dirty device went through md_error() (the
	 * array is then in FAIL mode); an unreadable origin chunk or map leaf
	 * fails only the I/O that needed it.
	 */
	while ((bio = bio_list_pop(&bios))) {
		if (bio == first && bio_op(bio) != REQ_OP_WRITE)
			cow_fail_bio(bio, cow_errno_to_status(err));
		else if (err && bio_op(first) == REQ_OP_WRITE)
			cow_fail_bio(bio, cow_errno_to_status(err));
		else if (done && bio == first)
			bio_endio(bio);
		else
			cow_map_bio(conf, bio);
	}
}

static void cow_deferred_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(work, struct cow_conf, deferred_work);
	struct bio_list bios;
	struct bio *bio;
	u16 missing;
	u64 slot;
	int err;

	spin_lock(&conf->lock);
	bios = conf->deferred;
	bio_list_init(&conf->deferred);
	spin_unlock(&conf->lock);

	while ((bio = bio_list_pop(&bios))) {
		u64 chunk = cow_chunk_of(conf, bio->bi_iter.bi_sector);

		while ((err = cow_md_lookup_slow(conf->md, chunk, &slot,
						 &missing)) == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
		if (err == -EUCLEAN)
			cow_damage_seen(conf);
		/* -ENOENT: a discard unmapped the chunk meanwhile. */
		if (err && err != -ENOENT)
			cow_fail_bio(bio, BLK_STS_IOERR);
		else
			cow_map_bio(conf, bio);
	}
}

static int cow_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Discard freed slots on the dirty device (md/cow/discard_passdown). */
static void cow_passdown(struct cow_conf *conf, struct cow_md_slots *freed)
{
	struct block_device *bdev = conf->dirty->bdev;
	unsigned int len = conf->meta->chunk_sectors;
	u64 i, j;
	int err;

	if (!bdev_max_discard_sectors(bdev))
		return;
	sort(freed->slot, freed->nr, sizeof(*freed->slot), cow_cmp_u64, NULL);
	for (i = 0; i < freed->nr; i = j) {
		for (j = i + 1; j < freed->nr; j++)
			if (freed->slot[j] != freed->slot[j - 1] + 1)
				break;
		err = blkdev_issue_discard(bdev, conf->dirty->data_offset +
					   cow_md_slot_sector(conf->md, freed->slot[i]),
					   (j - i) * len, GFP_NOIO);
		if (err && err != -EOPNOTSUPP)
			pr_warn_ratelimited("md/cow:%s: discard of freed slots on %pg failed (%d)\n",
					    mdname(conf->mddev), bdev, err);
	}
}

/* Free slots came back: leave out-of-space, retry waiting first writes. */
static void cow_space_returned(struct cow_conf *conf)
{
	struct cow_md_stats st;

	cow_md_get_stats(conf->md, &st);
	if (st.total_slots - st.used_slots + st.clean_chunks >
	    READ_ONCE(conf->low_water) && xchg(&conf->low, false))
		queue_work(conf->wq, &conf->notify_work);	/* low -> ok */
	if (cow_mode(conf) != COW_MODE_NO_SPACE)
		return;
	WRITE_ONCE(conf->nospace_expired, false);
	cow_set_mode(conf, COW_MODE_WRITE);
	cow_unpark(conf, false);
}

/*
 * Slots that discards and write-zeroes unmapped, in commits that are now
 * durable, become free once no I/O that found them in the map is still
 * running (an io_srcu grace period).
 */
static void cow_release_freed(struct cow_conf *conf)
{
	struct cow_md_slots freed;

	if (!cow_md_take_freed(conf->md, &freed))
		return;
	synchronize_srcu(&conf->io_srcu);
	if (READ_ONCE(conf->discard_passdown))
		cow_passdown(conf, &freed);
	cow_md_release_freed(conf->md, &freed);
	cow_space_returned(conf);
}

/*
 * Copy-on-read: drop clean chunks until free slots are above twice the
 * low-water mark (at least a few), commit, and make their slots free.
 * Returns how many were dropped.  Process context.
 */
static u64 cow_evict(struct cow_conf *conf)
{
	u64 target = 2 * READ_ONCE(conf->low_water) + 1, free;
	struct cow_md_stats st;
	s64 n;
	int ret;

	cow_md_get_stats(conf->md, &st);
	if (!st.clean_chunks || !cow_may_commit(conf) ||
	    cow_mode(conf) >= COW_MODE_READ_ONLY)
		return 0;
	free = st.total_slots - st.used_slots;
	n = cow_cache_evict(&conf->cache,
			    max_t(u64, target > free ? target - free : 0,
				  COW_EVICT_MIN));
	if (n == -EUCLEAN)
		cow_damage_seen(conf);
	if (n <= 0)
		return 0;
	ret = cow_md_commit(conf->md);
	if (ret < 0) {
		if (cow_mode(conf) != COW_MODE_FAIL)
			md_error(conf->mddev, conf->dirty);
		return 0;
	}
	cow_release_freed(conf);
	return n;
}

static void cow_evict_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(work, struct cow_conf, evict_work);

	cow_evict(conf);
}

/*
 * Copy-on-read: count @bio, a read inside one chunk, in its stream, and
 * start a promotion of its chunk if the policy admits one.
 */
static void cow_cache_read(struct cow_conf *conf, struct bio *bio)
{
	u64 chunk = cow_chunk_of(conf, bio->bi_iter.bi_sector);
	struct cow_md_stats st;
	struct cow_fill *f;

	if (cow_md_is_mapped(conf->md, chunk)) {
		cow_cache_admit(&conf->cache, bio, true, 0, 0);
		return;
	}
	if (!conf->origin || !cow_may_commit(conf) ||
	    cow_mode(conf) != COW_MODE_WRITE)
		return;
	cow_md_get_stats(conf->md, &st);
	if (!cow_cache_admit(&conf->cache, bio, false,
			     st.total_slots - st.used_slots,
			     READ_ONCE(conf->low_water)))
		return;
	f = kzalloc(sizeof(*f), GFP_NOWAIT | __GFP_NOWARN);
	if (!f) {
		cow_cache_promote_done(&conf->cache, false);
		return;
	}
	f->conf = conf;
	f->promote = true;
	bio_init(&f->bio, conf->mddev->gendisk->part0, NULL, 0, REQ_OP_READ);
	f->bio.bi_iter.bi_sector = chunk << conf->chunk_shift;
	f->bio.bi_iter.bi_size = cow_chunk_len(conf, chunk) << SECTOR_SHIFT;
	f->bio.bi_end_io = cow_fill_endio;
	cow_start_copyup(conf, &f->bio, chunk, false);
}

static void cow_commit_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(work, struct cow_conf, commit_work);
	struct bio_list bios;
	struct bio *bio;
	bool committed;
	int ret;

	spin_lock(&conf->lock);
	bios = conf->flush_bios;
	bio_list_init(&conf->flush_bios);
	spin_unlock(&conf->lock);

	if (cow_mode(conf) == COW_MODE_FAIL)
		ret = -EIO;
	else if (!cow_may_commit(conf))
		ret = 0;	/* read-only: the flush below is all there is */
	else
		ret = cow_md_commit(conf->md);
	if (ret == 0 && !bio_list_empty(&bios))
		ret = blkdev_issue_flush(conf->dirty->bdev);
	/* cow_md_commit() said why; a failed flush is a failed write. */
	if (ret < 0 && cow_mode(conf) != COW_MODE_FAIL)
		md_error(conf->mddev, conf->dirty);
	while ((bio = bio_list_pop(&bios))) {
		if (ret < 0) {
			cow_fail_bio(bio, BLK_STS_IOERR);
			continue;
		}
		/*
		 * The commit flushed the dirty device: the flush is done.  A
		 * bio the FUA check queued (never a PREFLUSH one: md cleared
		 * that) found its chunk mapped before the commit started, so
		 * the commit covered the mapping; a PREFLUSH bio did not look.
		 */
		committed = !(bio->bi_opf & REQ_PREFLUSH);
		bio->bi_opf &= ~REQ_PREFLUSH;
		if (!bio_sectors(bio))
			bio_endio(bio);
		else
			__cow_map_bio(conf, bio, committed);
	}
	if (ret > 0)
		cow_release_freed(conf);
}

static void cow_periodic_work(struct work_struct *work)
{
	struct cow_conf *conf = container_of(to_delayed_work(work),
					     struct cow_conf, periodic);
	struct cow_md_stats st;

	cow_md_get_stats(conf->md, &st);
	if (st.uncommitted && cow_may_commit(conf))
		cow_queue_commit(conf);
	queue_delayed_work(conf->wq, &conf->periodic,
			   msecs_to_jiffies(READ_ONCE(conf->commit_ms)));
}

/* cow_hydrate.fill: queue a fill of @chunk through the chunk's worker. */
static void cow_fill_chunk(struct cow_hydrate *h, u64 chunk,
			   unsigned int sectors)
{
	struct cow_conf *conf = container_of(h, struct cow_conf, hydrate);
	struct cow_fill *f;

	while (!(f = kzalloc(sizeof(*f), GFP_NOIO)))
		memalloc_retry_wait(GFP_NOIO);
	f->conf = conf;
	f->sectors = sectors;
	f->merge = cow_md_merging(conf->md);
	bio_init(&f->bio, conf->mddev->gendisk->part0, NULL, 0, REQ_OP_READ);
	f->bio.bi_iter.bi_sector = chunk << conf->chunk_shift;
	f->bio.bi_iter.bi_size = cow_chunk_len(conf, chunk) << SECTOR_SHIFT;
	f->bio.bi_end_io = cow_fill_endio;
	cow_map_bio(conf, &f->bio);
}

/*
 * The end of a merge that was not interrupted: every chunk that held
 * something the origin lacked was written to it and unmapped.  Record the
 * origin's new fingerprint and the end of the merge in one commit.  On
 * failure the merge flag stays, and the next start merges again (what is
 * already merged is unmapped, so it goes quickly).
 */
static void cow_merge_done(struct cow_conf *conf)
{
	struct cow_md_stats st;
	u32 fp = 0;
	int err;

	err = blkdev_issue_flush(conf->origin);
	/* Readers of the origin itself must not see what it held before. */
	if (!err)
		invalidate_bdev(conf->origin);
	if (!err)
		err = cow_origin_fingerprint(conf->origin, &fp);
	if (!err)
		err = cow_md_set_merging(conf->md, false, fp);
	if (!err) {
		err = cow_md_commit(conf->md);
		if (err > 0)
			err = 0;
	}
	if (err) {
		pr_warn("md/cow:%s: the merge did not finish (%d): it goes on at the next start\n",
			mdname(conf->mddev), err);
		return;
	}
	cow_md_get_stats(conf->md, &st);
	pr_info("md/cow:%s: merge done: origin %pg updated, fingerprint %08x; %llu chunks mapped (written during the merge, or clean)\n",
		mdname(conf->mddev), conf->origin, fp, st.mapped_chunks);
}

static sector_t cow_sync_request(struct mddev *mddev, sector_t sector_nr,
				 sector_t max_sector, int *skipped)
{
	struct cow_conf *conf = mddev->private;

	if (sector_nr >= max_sector && cow_md_merging(conf->md) &&
	    test_bit(MD_RECOVERY_SYNC, &mddev->recovery) &&
	    !test_bit(MD_RECOVERY_REQUESTED, &mddev->recovery) &&
	    !test_bit(MD_RECOVERY_INTR, &mddev->recovery))
		cow_merge_done(conf);
	if (sector_nr >= max_sector && cow_md_hydrating(conf->md) &&
	    test_bit(MD_RECOVERY_SYNC, &mddev->recovery) &&
	    !test_bit(MD_RECOVERY_REQUESTED, &mddev->recovery) &&
	    !test_bit(MD_RECOVERY_INTR, &mddev->recovery)) {
		/* The end of a hydration that was not interrupted. */
		struct cow_md_stats st;

		cow_md_get_stats(conf->md, &st);
		pr_info("md/cow:%s: hydration done: %llu of %llu chunks mapped, %llu partial\n",
			mdname(mddev), st.mapped_chunks, conf->meta->nr_chunks,
			st.partial_chunks);
		cow_md_set_hydrating(conf->md, false);
		cow_queue_commit(conf);
	}
	return cow_hydrate_sync(&conf->hydrate, sector_nr, max_sector, skipped,
				conf->origin);
}

/*
 * The array is the origin of running cow arrays: its content must not
 * change under them.  Refuse a write that carries data (or a discard or
 * write-zeroes); an empty flush is harmless.
 */
static bool cow_write_refused(struct cow_conf *conf, struct bio *bio)
{
	int users = atomic_read(&conf->cow_users);

	if (likely(!users))
		return false;
	pr_warn_ratelimited("md/cow:%s: write refused: the array is the origin of %d cow array%s\n",
			    mdname(conf->mddev), users, users == 1 ? "" : "s");
	bio_io_error(bio);
	return true;
}

static bool cow_make_request(struct mddev *mddev, struct bio *bio)
{
	struct cow_conf *conf = mddev->private;
	sector_t sector = bio->bi_iter.bi_sector;
	unsigned int left;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		break;
	case REQ_OP_WRITE:
		/* Checked first: a PREFLUSH may carry data too. */
		if (bio_sectors(bio) && cow_mode(conf) >= COW_MODE_READ_ONLY) {
			bio_io_error(bio);
			return true;
		}
		if (bio_sectors(bio) && cow_write_refused(conf, bio))
			return true;
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		/* Format 2 only (advertised then). */
		if (READ_ONCE(conf->meta->format) < 2) {
			bio->bi_status = BLK_STS_NOTSUPP;
			bio_endio(bio);
			return true;
		}
		if (cow_mode(conf) >= COW_MODE_READ_ONLY) {
			bio_io_error(bio);
			return true;
		}
		if (cow_write_refused(conf, bio))
			return true;
		break;
	default:
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return true;
	}

	if (unlikely(bio->bi_opf & REQ_PREFLUSH)) {
		struct cow_md_stats st;

		cow_md_get_stats(conf->md, &st);
		if (st.uncommitted) {
			/* A commit flushes the dirty device and makes the map durable. */
			if (cow_nowait_refused(bio))
				return true;
			md_account_bio(mddev, &bio);
			cow_wait_commit(conf, bio);
			return true;
		}
		if (md_flush_request(mddev, bio))
			return true;
	}

	/* An empty write that is not a flush (an empty FUA write) carries nothing. */
	if (unlikely(!bio_sectors(bio))) {
		bio_endio(bio);
		return true;
	}

	/* The block layer splits at chunk_sectors; be safe anyway. */
	left = (1U << conf->chunk_shift) - cow_chunk_offset(conf, sector);
	if (bio_sectors(bio) > left) {
		struct bio *split = bio_split(bio, left,
					      bio->bi_opf & REQ_NOWAIT ?
					      GFP_NOWAIT : GFP_NOIO,
					      &mddev->bio_set);

		if (IS_ERR_OR_NULL(split)) {
			if (bio->bi_opf & REQ_NOWAIT)
				bio_wouldblock_error(bio);
			else
				bio_io_error(bio);
			return true;
		}
		bio_chain(split, bio);
		submit_bio_noacct(bio);
		bio = split;
	}

	md_account_bio(mddev, &bio);
	if (bio_op(bio) == REQ_OP_READ && cow_md_cache(conf->md))
		cow_cache_read(conf, bio);
	cow_map_bio(conf, bio);
	return true;
}

static void cow_status(struct seq_file *seq, struct mddev *mddev)
{
	struct cow_conf *conf = mddev->private;
	struct cow_md_stats st;

	cow_md_get_stats(conf->md, &st);
	seq_printf(seq, " %uk chunks", conf->meta->chunk_sectors / 2);
	if (conf->origin)
		seq_printf(seq, " origin %pg", conf->origin);
	else
		seq_puts(seq, " origin none");
	seq_printf(seq, " dirty %llu/%llu slots, %llu mapped, %llu meta blocks",
		   st.used_slots, st.total_slots, st.mapped_chunks,
		   st.meta_blocks);
	if (READ_ONCE(conf->meta->format) >= 2)
		seq_printf(seq, ", %llu partial, %llu zero", st.partial_chunks,
			   st.zero_chunks);
	if (READ_ONCE(conf->meta->clean_ok))
		seq_printf(seq, ", %llu clean%s", st.clean_chunks,
			   cow_md_cache(conf->md) ? " (copy-on-read)" : "");
	switch (cow_mode(conf)) {
	case COW_MODE_FAIL:
		seq_puts(seq, " [failed]");
		break;
	case COW_MODE_READ_ONLY:
		seq_puts(seq, cow_md_needs_check(conf->md) ? " [needs check]" :
			 " [read-only]");
		break;
	case COW_MODE_NO_SPACE:
		seq_puts(seq, " [full]");
		break;
	default:
		break;
	}
}

static sector_t cow_size(struct mddev *mddev, sector_t sectors, int raid_disks)
{
	struct cow_conf *conf = mddev->private;

	/* The array is as large as its origin (or its recorded size). */
	return conf ? conf->meta->array_sectors : 0;
}

/* sysfs: md/cow/ */

/*
 * Every md/cow/ file runs its show or store function on the array's conf
 * under mddev->lock, which cow_free() also takes to unpublish it; a file
 * of a stopping array reads empty and refuses writes with ENODEV.
 */
static ssize_t cow_attr_show(struct mddev *mddev, char *page,
			     ssize_t (*show)(struct cow_conf *conf, char *page))
{
	struct cow_conf *conf;
	ssize_t ret = 0;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	if (conf)
		ret = show(conf, page);
	spin_unlock(&mddev->lock);
	return ret;
}

static ssize_t cow_attr_store(struct mddev *mddev, const char *buf, size_t len,
			      int (*store)(struct cow_conf *conf, const char *buf))
{
	struct cow_conf *conf;
	int err;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	err = conf ? store(conf, buf) : -ENODEV;
	spin_unlock(&mddev->lock);
	return err ?: len;
}

#define COW_ATTR_SHOW(_name)						\
static ssize_t cow_##_name##_sysfs_show(struct mddev *mddev, char *page) \
{									\
	return cow_attr_show(mddev, page, cow_##_name##_show);		\
}

#define COW_ATTR_RO(_name, _file)					\
COW_ATTR_SHOW(_name)							\
static struct md_sysfs_entry cow_##_name##_entry =			\
	__ATTR(_file, 0444, cow_##_name##_sysfs_show, NULL)

#define COW_ATTR_RW(_name, _file)					\
COW_ATTR_SHOW(_name)							\
static ssize_t cow_##_name##_sysfs_store(struct mddev *mddev,		\
					 const char *buf, size_t len)	\
{									\
	return cow_attr_store(mddev, buf, len, cow_##_name##_store);	\
}									\
static struct md_sysfs_entry cow_##_name##_entry =			\
	__ATTR(_file, 0644, cow_##_name##_sysfs_show,			\
	       cow_##_name##_sysfs_store)

static ssize_t cow_origin_show(struct cow_conf *conf, char *page)
{
	if (!conf->origin)
		return sprintf(page, "none\n");
	return sprintf(page, "%u:%u\n", MAJOR(conf->origin_dev),
		       MINOR(conf->origin_dev));
}

/* The numbers: one u64 each, from the superblock facts or the counters. */
#define COW_STAT(_name, _expr)						\
static ssize_t cow_##_name##_show(struct cow_conf *conf, char *page)	\
{									\
	struct cow_md_stats st;						\
									\
	cow_md_get_stats(conf->md, &st);				\
	return sprintf(page, "%llu\n", (u64)(_expr));			\
}									\
COW_ATTR_SHOW(_name)							\
static struct md_sysfs_entry cow_##_name##_entry = {			\
	.attr = { .name = __stringify(_name), .mode = 0444 },		\
	.show = cow_##_name##_sysfs_show,				\
}

COW_STAT(origin_sectors, conf->meta->origin_sectors);
COW_STAT(chunk_size, (u64)conf->meta->chunk_sectors << SECTOR_SHIFT);
COW_STAT(mapped_chunks, st.mapped_chunks);
COW_STAT(partial_chunks, st.partial_chunks);
COW_STAT(zero_chunks, st.zero_chunks);
COW_STAT(clean_chunks, st.clean_chunks);
COW_STAT(used_slots, st.used_slots);
COW_STAT(freed_slots, st.freed_slots);
COW_STAT(total_slots, st.total_slots);
COW_STAT(meta_blocks, st.meta_blocks);
COW_STAT(commit_seq, st.seq);
COW_STAT(cached_nodes, st.cached_nodes);

static ssize_t cow_state_show(struct cow_conf *conf, char *page)
{
	const char *state;

	switch (cow_mode(conf)) {
	case COW_MODE_FAIL:
		state = "failed";
		break;
	case COW_MODE_READ_ONLY:
		state = cow_md_needs_check(conf->md) ? "needs-check" : "read-only";
		break;
	case COW_MODE_NO_SPACE:
		state = "full";
		break;
	default:
		state = READ_ONCE(conf->low) ? "low" : "ok";
		break;
	}
	return sprintf(page, "%s\n", state);
}

static ssize_t cow_mode_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%s\n", cow_mode_names[cow_mode(conf)]);
}

static ssize_t cow_commit_ms_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%u\n", READ_ONCE(conf->commit_ms));
}

static int cow_commit_ms_store(struct cow_conf *conf, const char *buf)
{
	unsigned int ms;
	int err;

	err = kstrtouint(buf, 10, &ms);
	if (err)
		return err;
	if (ms < 10 || ms > 60000)
		return -ERANGE;
	WRITE_ONCE(conf->commit_ms, ms);
	return 0;
}

static ssize_t cow_policy_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%s\n",
		       READ_ONCE(conf->queue_on_full) ? "queue" : "error");
}

static int cow_policy_store(struct cow_conf *conf, const char *buf)
{
	bool queue;

	if (sysfs_streq(buf, "queue"))
		queue = true;
	else if (sysfs_streq(buf, "error"))
		queue = false;
	else
		return -EINVAL;
	WRITE_ONCE(conf->queue_on_full, queue);
	WRITE_ONCE(conf->nospace_expired, false);
	if (!queue) /* fail what waits now */
		mod_delayed_work(conf->wq, &conf->nospace_work, 0);
	return 0;
}

static ssize_t cow_timeout_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%u\n", READ_ONCE(conf->nospace_timeout_s));
}

static int cow_timeout_store(struct cow_conf *conf, const char *buf)
{
	unsigned int s;
	int err;

	err = kstrtouint(buf, 10, &s);
	if (err)
		return err;
	if (s < 1 || s > 86400)
		return -ERANGE;
	WRITE_ONCE(conf->nospace_timeout_s, s);
	return 0;
}

static ssize_t cow_low_water_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%llu\n", READ_ONCE(conf->low_water));
}

/* The low-water mark for @pct percent of the dirty device's slots. */
static u64 cow_low_water_of(struct cow_conf *conf, unsigned int pct)
{
	struct cow_md_stats st;

	cow_md_get_stats(conf->md, &st);
	return div_u64(st.total_slots * pct, 100);
}

/* "N": N free slots; "N%": N percent of the slots, also after growth. */
static int cow_low_water_store(struct cow_conf *conf, const char *buf)
{
	char num[24];
	size_t len = strcspn(buf, "%\n");
	unsigned int pct = 0;
	u64 v;
	int err;

	if (len >= sizeof(num))
		return -EINVAL;
	memcpy(num, buf, len);
	num[len] = '\0';
	err = kstrtoull(num, 10, &v);
	if (err)
		return err;
	if (buf[len] == '%') {
		if (v > 99)
			return -EINVAL;
		pct = v;
		v = cow_low_water_of(conf, pct);
		len++;
	}
	if (buf[len] && strcmp(buf + len, "\n"))
		return -EINVAL;
	WRITE_ONCE(conf->low_water_pct, pct);
	WRITE_ONCE(conf->low_water, v);
	/* Re-armed: "low" again at once if the new mark is already reached. */
	if (xchg(&conf->low, false))
		queue_work(conf->wq, &conf->notify_work);
	cow_check_low_water(conf);
	return 0;
}

static struct md_personality cow_personality;

static ssize_t cow_format_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%u\n", READ_ONCE(cow_md_meta(conf->md)->format));
}

COW_ATTR_SHOW(format)

/*
 * "2" upgrades a format 1 array; the next commit records it.  Sleeps (the
 * metadata mutex), so it holds the reconfig mutex instead of mddev->lock to
 * keep the conf alive.
 */
static int cow_set_limits(struct cow_conf *conf);

static ssize_t cow_format_sysfs_store(struct mddev *mddev, const char *buf,
				      size_t len)
{
	struct cow_conf *conf;
	unsigned int format;
	int err;

	err = kstrtouint(buf, 10, &format);
	if (err)
		return err;
	err = mddev_lock(mddev);
	if (err)
		return err;
	conf = mddev->private;
	if (!conf || mddev->pers != &cow_personality)
		err = -ENODEV;
	else if (!cow_may_commit(conf) || cow_mode(conf) >= COW_MODE_READ_ONLY)
		err = -EROFS;
	else
		err = cow_md_set_format(conf->md, format);
	if (!err && conf) {
		cow_queue_commit(conf);
		/* Discard and write-zeroes are offered from now on. */
		if (cow_set_limits(conf))
			pr_warn("md/cow:%s: cannot offer discard and write-zeroes before the next assembly\n",
				mdname(mddev));
	}
	mddev_unlock(mddev);
	return err ?: len;
}

static struct md_sysfs_entry cow_format_entry =
	__ATTR(format, 0644, cow_format_sysfs_show, cow_format_sysfs_store);

static ssize_t cow_users_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%d\n", atomic_read(&conf->cow_users));
}

COW_ATTR_RO(origin, origin);
COW_ATTR_RO(users, cow_users);
COW_ATTR_RO(state, state);
COW_ATTR_RO(mode, mode);
COW_ATTR_RW(commit_ms, commit_interval_ms);
COW_ATTR_RW(policy, no_space_policy);
COW_ATTR_RW(timeout, no_space_timeout);
COW_ATTR_RW(low_water, low_water_mark);

static ssize_t cow_passdown_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%d\n", READ_ONCE(conf->discard_passdown));
}

static int cow_passdown_store(struct cow_conf *conf, const char *buf)
{
	bool on;
	int err = kstrtobool(buf, &on);

	if (err)
		return err;
	WRITE_ONCE(conf->discard_passdown, on);
	return 0;
}
COW_ATTR_RW(passdown, discard_passdown);

static void cow_origin_close(struct cow_conf *conf);

/*
 * md/cow/hydrate: "start" copies every chunk that still reads from the
 * origin into the dirty device (md-cow-hydrate.h); reads "running" while a
 * hydration runs or waits to go on, else "idle".  Holds the reconfig mutex
 * (the commit may sleep).
 */
/*
 * Show one of two words for a state the metadata keeps (under mddev->lock,
 * which keeps the conf alive).
 */
static ssize_t cow_md_state_show(struct mddev *mddev, char *page,
				 bool (*get)(struct cow_md *md),
				 const char *yes, const char *no)
{
	struct cow_conf *conf;
	ssize_t ret = 0;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	if (conf)
		ret = sprintf(page, "%s\n", get(conf->md) ? yes : no);
	spin_unlock(&mddev->lock);
	return ret;
}

static ssize_t cow_hydrate_sysfs_show(struct mddev *mddev, char *page)
{
	return cow_md_state_show(mddev, page, cow_md_hydrating, "running",
				 "idle");
}

/*
 * For a change that sysfs asks for, with the reconfig mutex held: the conf
 * of a running array in mode write, else NULL and *@err set.
 */
static struct cow_conf *cow_conf_to_change(struct mddev *mddev, int *err)
{
	struct cow_conf *conf = mddev->private;

	*err = 0;
	if (!conf || mddev->pers != &cow_personality)
		*err = -ENODEV;
	else if (!cow_may_commit(conf) || cow_mode(conf) != COW_MODE_WRITE)
		*err = -EROFS;
	return *err ? NULL : conf;
}

/* Commit now (sysfs changes that must be durable before they return). */
static int cow_commit_now(struct cow_conf *conf)
{
	int ret = cow_md_commit(conf->md);

	if (ret > 0)
		cow_release_freed(conf);
	return ret < 0 ? ret : 0;
}

static ssize_t cow_hydrate_sysfs_store(struct mddev *mddev, const char *buf,
				       size_t len)
{
	struct cow_conf *conf;
	int err;

	if (!sysfs_streq(buf, "start"))
		return -EINVAL;
	err = mddev_lock(mddev);
	if (err)
		return err;
	conf = cow_conf_to_change(mddev, &err);
	if (conf && (cow_md_hydrating(conf->md) || cow_md_merging(conf->md)))
		err = -EBUSY;
	else if (conf)
		err = cow_hydrate_start(&conf->hydrate, conf->origin);
	if (!err) {
		/* Recorded before any chunk is copied: a restart goes on. */
		cow_md_set_hydrating(conf->md, true);
		err = cow_commit_now(conf);
	}
	mddev_unlock(mddev);
	return err ?: len;
}

static struct md_sysfs_entry cow_hydrate_entry =
	__ATTR(hydrate, 0644, cow_hydrate_sysfs_show, cow_hydrate_sysfs_store);

/*
 * md/cow/detach: "1" makes a hydrated array independent of its origin:
 * refused (EBUSY) while a chunk still reads from it or a hydration runs.
 * The array is suspended meanwhile, so no read of the origin is in flight
 * when it is closed.
 */
static ssize_t cow_detach_sysfs_store(struct mddev *mddev, const char *buf,
				      size_t len)
{
	struct cow_conf *conf;
	int err;

	if (!sysfs_streq(buf, "1"))
		return -EINVAL;
	err = mddev_suspend_and_lock(mddev);
	if (err)
		return err;
	conf = cow_conf_to_change(mddev, &err);
	if (conf && !conf->origin)
		err = -EINVAL;
	else if (conf && (cow_md_hydrating(conf->md) ||
			  test_bit(MD_RECOVERY_RUNNING, &mddev->recovery)))
		err = -EBUSY;
	else if (conf)
		err = cow_md_detach(conf->md);
	if (!err)
		err = cow_commit_now(conf);
	if (!err) {
		pr_info("md/cow:%s: origin %pg detached\n", mdname(mddev),
			conf->origin);
		cow_origin_close(conf);
		conf->origin_dev = 0;
	} else if (err == -EBUSY) {
		pr_warn("md/cow:%s: cannot detach the origin: chunks still read from it (hydrate first) or a hydration runs\n",
			mdname(mddev));
	}
	mddev_unlock_and_resume(mddev);
	return err ?: len;
}

static struct md_sysfs_entry cow_detach_entry =
	__ATTR(detach, 0200, NULL, cow_detach_sysfs_store);

/*
 * For a merge: claim the origin for writing, exclusively (@conf is the
 * holder), in place of the shared read-only claim.  If that fails (other
 * cow arrays or a mount hold it), the shared claim is taken again; if
 * even that fails, the array fails and reads of unmapped chunks fail with
 * EIO.  The array is suspended.
 */
static int cow_merge_claim(struct cow_conf *conf)
{
	struct mddev *mddev = conf->mddev;
	dev_t dev = conf->origin_dev;
	struct file *file;
	int err;

	cow_origin_close(conf);
	file = cow_compat_open_rw(dev, conf);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		pr_warn("md/cow:%s: cannot merge: origin %u:%u cannot be claimed for writing (%d): other cow arrays, a mount or a driver use it\n",
			mdname(mddev), MAJOR(dev), MINOR(dev), err);
		file = cow_compat_open_ro(dev, &cow_origin_holder);
		if (IS_ERR(file)) {
			pr_err("md/cow:%s: origin %u:%u lost (%ld): failing the array\n",
			       mdname(mddev), MAJOR(dev), MINOR(dev),
			       PTR_ERR(file));
			cow_set_mode(conf, COW_MODE_FAIL);
			return err;
		}
	} else {
		err = 0;
	}
	if (bd_link_disk_holder(file_bdev(file), mddev->gendisk))
		pr_warn("md/cow:%s: cannot link origin %pg as a holder in sysfs\n",
			mdname(mddev), file_bdev(file));
	conf->origin_file = file;
	conf->origin = file_bdev(file);
	return err;
}

/*
 * md/cow/merge: "start" folds the array's written chunks into its origin
 * (md-cow-hydrate.h): the origin must not be a cow array and must not be
 * used by anything else; reads "running" while a merge runs or waits to
 * go on, else "idle".
 */
static ssize_t cow_merge_sysfs_show(struct mddev *mddev, char *page)
{
	return cow_md_state_show(mddev, page, cow_md_merging, "running",
				 "idle");
}

static ssize_t cow_merge_sysfs_store(struct mddev *mddev, const char *buf,
				     size_t len)
{
	struct cow_conf *conf;
	int err;

	if (!sysfs_streq(buf, "start"))
		return -EINVAL;
	err = mddev_suspend_and_lock(mddev);
	if (err)
		return err;
	conf = cow_conf_to_change(mddev, &err);
	if (conf && (!conf->origin || conf->lower)) {
		pr_warn("md/cow:%s: cannot merge: %s\n", mdname(mddev),
			conf->origin ? "the origin is a cow array" :
				       "the array has no origin");
		err = -EINVAL;
	} else if (conf && (cow_md_hydrating(conf->md) ||
			    cow_md_merging(conf->md) ||
			    cow_hydrate_running(&conf->hydrate))) {
		err = -EBUSY;
	} else if (conf) {
		err = cow_merge_claim(conf);
	}
	if (!err)
		err = cow_md_set_merging(conf->md, true, 0);
	/* Recorded before the origin is written: a restart goes on. */
	if (!err)
		err = cow_commit_now(conf);
	if (!err)
		err = cow_merge_start(&conf->hydrate);
	if (!err)
		pr_info("md/cow:%s: merging into origin %pg\n", mdname(mddev),
			conf->origin);
	mddev_unlock_and_resume(mddev);
	return err ?: len;
}

static struct md_sysfs_entry cow_merge_entry =
	__ATTR(merge, 0644, cow_merge_sysfs_show, cow_merge_sysfs_store);

/*
 * md/cow/cache: copy-on-read "on" or "off" (md-cow-cache.h), recorded in
 * the cow superblock before the write returns.  "on" needs format 2 and an
 * origin.  Holds the reconfig mutex (the commit may sleep).
 */
static ssize_t cow_cache_sysfs_show(struct mddev *mddev, char *page)
{
	return cow_md_state_show(mddev, page, cow_md_cache, "on", "off");
}

static ssize_t cow_cache_sysfs_store(struct mddev *mddev, const char *buf,
				     size_t len)
{
	struct cow_conf *conf;
	bool on;
	int err;

	if (sysfs_streq(buf, "on"))
		on = true;
	else if (sysfs_streq(buf, "off"))
		on = false;
	else
		return -EINVAL;
	err = mddev_lock(mddev);
	if (err)
		return err;
	conf = cow_conf_to_change(mddev, &err);
	if (conf && on && !conf->origin)
		err = -EINVAL;
	else if (conf)
		err = cow_md_set_cache(conf->md, on);
	if (!err) {
		err = cow_commit_now(conf);
		pr_info("md/cow:%s: copy-on-read %s\n", mdname(mddev),
			on ? "on" : "off");
	}
	mddev_unlock(mddev);
	return err ?: len;
}

static struct md_sysfs_entry cow_cache_entry =
	__ATTR(cache, 0644, cow_cache_sysfs_show, cow_cache_sysfs_store);

static ssize_t cow_seq_cutoff_show(struct cow_conf *conf, char *page)
{
	return sprintf(page, "%u\n", READ_ONCE(conf->cache.seq_cutoff) / 2);
}

/* KiB; 0: no cutoff. */
static int cow_seq_cutoff_store(struct cow_conf *conf, const char *buf)
{
	unsigned int kib;
	int err;

	err = kstrtouint(buf, 10, &kib);
	if (err)
		return err;
	if (kib > UINT_MAX / 2)
		return -ERANGE;
	WRITE_ONCE(conf->cache.seq_cutoff, kib * 2);
	return 0;
}

COW_ATTR_RW(seq_cutoff, sequential_cutoff);

static ssize_t cow_cache_stats_show(struct cow_conf *conf, char *page)
{
	return cow_cache_show(&conf->cache, page);
}

COW_ATTR_RO(cache_stats, cache_stats);

static struct attribute *cow_attrs[] = {
	&cow_origin_entry.attr,
	&cow_origin_sectors_entry.attr,
	&cow_chunk_size_entry.attr,
	&cow_mapped_chunks_entry.attr,
	&cow_partial_chunks_entry.attr,
	&cow_zero_chunks_entry.attr,
	&cow_clean_chunks_entry.attr,
	&cow_format_entry.attr,
	&cow_used_slots_entry.attr,
	&cow_freed_slots_entry.attr,
	&cow_total_slots_entry.attr,
	&cow_meta_blocks_entry.attr,
	&cow_commit_seq_entry.attr,
	&cow_cached_nodes_entry.attr,
	&cow_state_entry.attr,
	&cow_mode_entry.attr,
	&cow_commit_ms_entry.attr,
	&cow_policy_entry.attr,
	&cow_timeout_entry.attr,
	&cow_low_water_entry.attr,
	&cow_passdown_entry.attr,
	&cow_users_entry.attr,
	&cow_hydrate_entry.attr,
	&cow_detach_entry.attr,
	&cow_merge_entry.attr,
	&cow_cache_entry.attr,
	&cow_seq_cutoff_entry.attr,
	&cow_cache_stats_entry.attr,
	NULL,
};

static const struct attribute_group cow_attr_group = {
	.name = "cow",
	.attrs = cow_attrs,
};

/*
 * If @origin is a cow array, or a partition of one, count this array among
 * its users and return its conf.  An md device has the same block device
 * operations as this array's own disk; it is a cow array if md runs this
 * personality on it.  It stays so while it is open: md does not stop an
 * array that is open, nor change the level of a cow array.
 */
static struct cow_conf *cow_lower_get(struct cow_conf *conf,
				      struct block_device *origin)
{
	struct gendisk *disk = origin->bd_disk;
	struct mddev *lower;
	struct cow_conf *lc = NULL;

	if (disk->fops != conf->mddev->gendisk->fops)
		return NULL;
	lower = disk->private_data;
	spin_lock(&lower->lock);
	if (lower->pers == &cow_personality) {
		lc = cow_conf_get(lower);
		if (lc)
			atomic_inc(&lc->cow_users);
	}
	spin_unlock(&lower->lock);
	if (lc)
		pr_info("md/cow:%s: origin %s is a cow array: it refuses writes while this array runs\n",
			mdname(conf->mddev), mdname(lower));
	return lc;
}

/* Open and check the origin mdadm named for this start of the array. */
static int cow_origin_open(struct cow_conf *conf)
{
	struct mddev *mddev = conf->mddev;
	struct file *file;
	dev_t dev;
	int err;

	/* Named through the module parameter, else the handoff block. */
	if (!cow_handoff_take(mddev->uuid, &dev)) {
		err = cow_handoff_load(conf->dirty, mddev->uuid, mdname(mddev),
				       &dev);
		if (err)
			return err;
	}
	if (dev == disk_devt(mddev->gendisk) || dev == conf->dirty->bdev->bd_dev) {
		pr_warn("md/cow:%s: the origin cannot be the array or its dirty device\n",
			mdname(mddev));
		return -EINVAL;
	}
	/* A merge under way writes the origin: it is claimed for that alone. */
	if (cow_md_merging(conf->md))
		file = cow_compat_open_rw(dev, conf);
	else
		file = cow_compat_open_ro(dev, &cow_origin_holder);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		if (err == -EBUSY && cow_md_merging(conf->md))
			pr_warn("md/cow:%s: a merge into origin %u:%u is under way, but it is in use (other cow arrays, a mount): it must be claimed for writing\n",
				mdname(mddev), MAJOR(dev), MINOR(dev));
		else if (err == -EBUSY)
			pr_warn("md/cow:%s: origin %u:%u is in use (mounted or claimed by another driver)\n",
				mdname(mddev), MAJOR(dev), MINOR(dev));
		else
			pr_warn("md/cow:%s: cannot open origin %u:%u (%d)\n",
				mdname(mddev), MAJOR(dev), MINOR(dev), err);
		return err;
	}
	if (cow_md_merging(conf->md)) {
		/* Part old, part new: its fingerprint cannot match. */
		err = cow_origin_size_ok(file_bdev(file), conf->meta,
					 mdname(mddev));
		if (!err)
			pr_warn("md/cow:%s: a merge into origin %pg is under way: only its size is checked\n",
				mdname(mddev), file_bdev(file));
	} else {
		err = cow_origin_verify(file_bdev(file), conf->meta,
					mdname(mddev));
	}
	if (err)
		goto out_close;
	err = bd_link_disk_holder(file_bdev(file), mddev->gendisk);
	if (err)
		goto out_close;
	conf->origin_file = file;
	conf->origin = file_bdev(file);
	conf->origin_dev = dev;
	conf->lower = cow_lower_get(conf, conf->origin);
	return 0;

out_close:
	cow_compat_close(file);
	return err;
}

static void cow_origin_close(struct cow_conf *conf)
{
	if (!conf->origin_file)
		return;
	if (conf->lower) {
		atomic_dec(&conf->lower->cow_users);
		conf->lower = NULL;
	}
	bd_unlink_disk_holder(conf->origin, conf->mddev->gendisk);
	cow_compat_close(conf->origin_file);
	conf->origin_file = NULL;
	conf->origin = NULL;
}

static int cow_set_limits(struct cow_conf *conf)
{
	struct mddev *mddev = conf->mddev;
	struct queue_limits lim;
	int err;

	md_init_stacking_limits(&lim);
	err = mddev_stack_rdev_limits(mddev, &lim, 0);
	if (err)
		return err;
	if (conf->origin)
		queue_limits_stack_bdev(&lim, conf->origin, 0, mdname(mddev));
	/* I/O never crosses a chunk (make_request splits what does). */
	lim.chunk_sectors = conf->meta->chunk_sectors;
	lim.io_opt = conf->meta->chunk_sectors << 9;
	/*
	 * Format 2 takes discards (what they cover of whole sub-chunks, or
	 * of whole chunks without sub-chunks) and write-zeroes (of any
	 * range); format 1 neither.  The dirty device's own discard support
	 * does not matter: it is only used to pass freed slots down.
	 */
	if (READ_ONCE(conf->meta->format) >= 2) {
		unsigned int sub = READ_ONCE(conf->meta->sub_sectors);

		lim.max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
		lim.max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		lim.discard_granularity = (sub ?: conf->meta->chunk_sectors) <<
					  SECTOR_SHIFT;
		lim.discard_alignment = 0;
	} else {
		lim.max_write_zeroes_sectors = 0;
		lim.max_hw_discard_sectors = 0;
		lim.max_discard_sectors = 0;
	}
	return queue_limits_set(mddev->gendisk->queue, &lim);
}

static struct md_rdev *cow_find_dirty(struct mddev *mddev)
{
	struct md_rdev *rdev, *dirty = NULL;

	rdev_for_each(rdev, mddev) {
		if (rdev->raid_disk != 0 || test_bit(Faulty, &rdev->flags))
			continue;
		dirty = rdev;
	}
	return dirty;
}

/* Mempools, bioset and workqueues of a conf whose metadata is open. */
static int cow_alloc_io(struct cow_conf *conf)
{
	unsigned long pages = DIV_ROUND_UP(conf->meta->chunk_sectors,
					   PAGE_SECTORS);
	const char *name = mdname(conf->mddev);
	int err;

	err = init_srcu_struct(&conf->io_srcu);
	if (err)
		return err;
	conf->srcu_ready = true;
	err = mempool_init(&conf->pending_pool, COW_MIN_PENDING,
			   cow_pending_alloc, cow_pending_free, NULL);
	if (err)
		return err;
	err = mempool_init(&conf->copy_pool, COW_MIN_COPYBUFS,
			   cow_copybuf_alloc, cow_copybuf_free, (void *)pages);
	if (err)
		return err;
	/* Clones are allocated in submit_bio context: rescue them. */
	err = bioset_init(&conf->bs, BIO_POOL_SIZE,
			  offsetof(struct cow_remap, clone), BIOSET_NEED_RESCUER);
	if (err)
		return err;
	err = bioset_init(&conf->split_bs, BIO_POOL_SIZE, 0, BIOSET_NEED_RESCUER);
	if (err)
		return err;
	err = bioset_init(&conf->zero_bs, BIO_POOL_SIZE, 0,
			  BIOSET_NEED_BVECS | BIOSET_NEED_RESCUER);
	if (err)
		return err;
	conf->wq = alloc_workqueue("md_cow_%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				   name);
	conf->copy_wq = alloc_workqueue("md_cow_copy_%s",
					WQ_MEM_RECLAIM | WQ_UNBOUND,
					COW_MAX_COPYUPS, name);
	if (!conf->wq || !conf->copy_wq)
		return -ENOMEM;
	return 0;
}

/* Undo cow_alloc_io(); each part may be missing. */
static void cow_free_io(struct cow_conf *conf)
{
	if (conf->copy_wq)
		destroy_workqueue(conf->copy_wq);
	if (conf->wq)
		destroy_workqueue(conf->wq);
	bioset_exit(&conf->zero_bs);
	bioset_exit(&conf->split_bs);
	bioset_exit(&conf->bs);
	mempool_exit(&conf->copy_pool);
	mempool_exit(&conf->pending_pool);
	if (conf->srcu_ready)
		cleanup_srcu_struct(&conf->io_srcu);
}

/*
 * The array's md thread: md_check_recovery() starts a hydration's resync
 * and reaps it (md-cow-hydrate.h); md wakes the thread when there is
 * something to do.
 */
static void cow_daemon(struct md_thread *thread)
{
	md_check_recovery(thread->mddev);
}

static int cow_run(struct mddev *mddev)
{
	struct md_thread *thread;
	struct cow_conf *conf;
	sector_t dirty_sectors;
	int err;

	if (mddev->raid_disks != 1) {
		pr_warn("md/cow:%s: a cow array has one md member (the dirty device), not %d\n",
			mdname(mddev), mddev->raid_disks);
		return -EINVAL;
	}
	if (mddev->bitmap_info.file || mddev->bitmap_info.offset) {
		pr_warn("md/cow:%s: write-intent bitmaps are not supported\n",
			mdname(mddev));
		return -EINVAL;
	}
	if (!mddev->persistent || mddev->major_version != 1) {
		pr_warn("md/cow:%s: needs md v1.x metadata\n", mdname(mddev));
		return -EINVAL;
	}

	conf = kzalloc(sizeof(*conf), GFP_KERNEL);
	if (!conf)
		return -ENOMEM;
	conf->mddev = mddev;
	spin_lock_init(&conf->lock);
	hash_init(conf->pending);
	bio_list_init(&conf->deferred);
	bio_list_init(&conf->flush_bios);
	INIT_LIST_HEAD(&conf->parked);
	INIT_WORK(&conf->commit_work, cow_commit_work);
	INIT_WORK(&conf->deferred_work, cow_deferred_work);
	INIT_WORK(&conf->notify_work, cow_notify_work);
	INIT_DELAYED_WORK(&conf->periodic, cow_periodic_work);
	INIT_DELAYED_WORK(&conf->nospace_work, cow_nospace_work);
	INIT_WORK(&conf->evict_work, cow_evict_work);
	conf->commit_ms = COW_DEFAULT_COMMIT_MS;
	conf->nospace_timeout_s = COW_DEFAULT_NOSPACE_S;
	conf->dirty = cow_find_dirty(mddev);
	if (!conf->dirty) {
		pr_warn("md/cow:%s: the dirty device is missing\n", mdname(mddev));
		err = -EINVAL;
		goto out_free;
	}

	/*
	 * md's component size bounds the slots: a size lowered through md
	 * (never below the slots in use) must not be exceeded again.
	 */
	dirty_sectors = conf->dirty->sectors;
	if (mddev->dev_sectors && mddev->dev_sectors < dirty_sectors)
		dirty_sectors = mddev->dev_sectors;
	conf->md = cow_md_open(conf->dirty, dirty_sectors, mddev->uuid,
			       mdname(mddev), READ_ONCE(cache_leaves));
	if (IS_ERR(conf->md)) {
		err = PTR_ERR(conf->md);
		goto out_free;
	}
	conf->meta = cow_md_meta(conf->md);
	conf->low_water_pct = COW_DEFAULT_LOW_WATER_PCT;
	conf->low_water = cow_low_water_of(conf, conf->low_water_pct);
	conf->chunk_shift = ilog2(conf->meta->chunk_sectors);
	if (conf->meta->chunk_sectors != mddev->chunk_sectors) {
		pr_warn("md/cow:%s: chunk size %u in cow metadata differs from md's %u\n",
			mdname(mddev), conf->meta->chunk_sectors,
			mddev->chunk_sectors);
		err = -EINVAL;
		goto out_close_md;
	}

	if (conf->meta->has_origin) {
		err = cow_origin_open(conf);
		if (err)
			goto out_close_md;
	}

	err = cow_set_limits(conf);
	if (err)
		goto out_close_origin;

	err = cow_alloc_io(conf);
	if (err)
		goto out_free_io;

	if (conf->meta->needs_check)
		pr_warn("md/cow:%s: metadata damage was seen before (needs_check flag): starting read-only; stop the array, run cow_check, then cow_check --clear-needs-check\n",
			mdname(mddev));
	if (conf->meta->read_only || conf->meta->needs_check) {
		conf->mode = COW_MODE_READ_ONLY;
		mddev->ro = MD_RDONLY;
	}
	mddev->degraded = 0;
	md_set_array_sectors(mddev, conf->meta->array_sectors);
	/*
	 * md resyncs only to hydrate (md-cow-hydrate.h): over the whole
	 * array, and only when the cow superblock says a hydration was asked
	 * for.  Then it goes on from md's checkpoint (from the start if md's
	 * superblock lost it); else a stale resync offset is dropped.
	 */
	mddev->resync_max_sectors = conf->meta->array_sectors;
	cow_cache_init(&conf->cache, conf->md);
	cow_hydrate_init(&conf->hydrate, mddev, conf->md, conf->chunk_shift,
			 cow_fill_chunk);
	/* md starts and reaps resyncs from the personality's own thread. */
	thread = md_register_thread(cow_daemon, mddev, "cow");
	if (!thread) {
		err = -ENOMEM;
		goto out_free_io;
	}
	rcu_assign_pointer(mddev->thread, thread);
	if (!cow_md_hydrating(conf->md) && !cow_md_merging(conf->md))
		mddev->resync_offset = MaxSector;
	else if (mddev->resync_offset == MaxSector)
		mddev->resync_offset = 0;
	if (cow_md_hydrating(conf->md) || cow_md_merging(conf->md))
		pr_info("md/cow:%s: %s goes on from sector %llu\n",
			mdname(mddev),
			cow_md_merging(conf->md) ? "merge" : "hydration",
			(u64)mddev->resync_offset);
	mddev->private = conf;
	queue_delayed_work(conf->wq, &conf->periodic,
			   msecs_to_jiffies(conf->commit_ms));

	if (sysfs_create_group(&mddev->kobj, &cow_attr_group))
		pr_warn("md/cow:%s: cannot create sysfs attributes\n",
			mdname(mddev));

	if (conf->origin)
		pr_info("md/cow:%s: started, origin %pg, %u KiB chunks, %llu sectors\n",
			mdname(mddev), conf->origin,
			conf->meta->chunk_sectors / 2,
			(unsigned long long)conf->meta->array_sectors);
	else
		pr_info("md/cow:%s: started without origin, %u KiB chunks, %llu sectors\n",
			mdname(mddev), conf->meta->chunk_sectors / 2,
			(unsigned long long)conf->meta->array_sectors);
	return 0;

out_free_io:
	cow_free_io(conf);
out_close_origin:
	cow_origin_close(conf);
out_close_md:
	cow_md_close(conf->md);
out_free:
	kfree(conf);
	return err;
}

/* Nothing waits for a copy-up, a leaf, a commit or space. */
static bool cow_idle(struct cow_conf *conf)
{
	bool idle;

	spin_lock(&conf->lock);
	idle = hash_empty(conf->pending) && bio_list_empty(&conf->deferred) &&
		bio_list_empty(&conf->flush_bios) && list_empty(&conf->parked);
	spin_unlock(&conf->lock);
	return idle;
}

/*
 * Wait for copy-ups and deferred bios, then commit what they mapped.  A
 * commit releases flush bios, which may start copy-ups, which may wait
 * for another commit: flush both queues until nothing is left.
 */
static void cow_drain_and_commit(struct cow_conf *conf)
{
	for (;;) {
		/* Writes parked for space cannot wait any longer. */
		cow_unpark(conf, true);
		flush_workqueue(conf->copy_wq);
		flush_workqueue(conf->wq);
		if (cow_idle(conf))
			break;
		/* A copy-up's own I/O is still in flight. */
		usleep_range(500, 1000);
	}
	if (cow_may_commit(conf) && cow_md_commit(conf->md) < 0)
		md_error(conf->mddev, conf->dirty);
}

static void cow_free(struct mddev *mddev, void *priv)
{
	struct cow_conf *conf = priv;

	spin_lock(&mddev->lock);
	mddev->private = NULL;
	spin_unlock(&mddev->lock);
	/* md removes the group once the reconfig mutex is dropped. */
	mddev->to_remove = &cow_attr_group;

	/* Nothing is parked from now on; then drain, then stop the timers. */
	spin_lock(&conf->lock);
	conf->stopping = true;
	spin_unlock(&conf->lock);
	cancel_delayed_work_sync(&conf->periodic);
	cow_drain_and_commit(conf);
	cancel_delayed_work_sync(&conf->nospace_work);
	cancel_work_sync(&conf->evict_work);
	cancel_work_sync(&conf->notify_work);
	cow_free_io(conf);
	cow_origin_close(conf);
	cow_md_close(conf->md);
	kfree(conf);
}

static void cow_error(struct mddev *mddev, struct md_rdev *rdev)
{
	struct cow_conf *conf = mddev->private;

	/*
	 * There is no redundancy: losing the dirty device loses the array.
	 * As for raid0 (and raid1's last device), the member is not marked
	 * Faulty, so the array assembles again once the fault is repaired.
	 */
	if (!test_and_set_bit(MD_BROKEN, &mddev->flags))
		pr_crit("md/cow:%s: dirty device %pg failed, the array stops accepting writes\n",
			mdname(mddev), rdev->bdev);
	if (conf)
		cow_set_mode(conf, COW_MODE_FAIL);
	sysfs_notify_dirent_safe(mddev->sysfs_state);
}

/*
 * md calls this when the used size of the members changes (component_size,
 * "mdadm --grow --size=max"), after the dirty device's own size was raised
 * (md/dev-X/size).  The array keeps its size; the dirty device gains or
 * loses slots, never below the ones in use.
 */
static int cow_resize(struct mddev *mddev, sector_t sectors)
{
	struct cow_conf *conf = mddev->private;
	struct cow_md_stats st;
	u64 old;
	int err;

	err = cow_md_resize(conf->md, sectors, &old);
	cow_md_get_stats(conf->md, &st);
	if (err == -EINVAL) {
		pr_warn("md/cow:%s: refusing to shrink the dirty device to %llu sectors: below the %llu chunk slots in use\n",
			mdname(mddev), (unsigned long long)sectors, st.used_slots);
		return err;
	}
	if (err)
		return err;
	mddev->dev_sectors = sectors;
	md_set_array_sectors(mddev, conf->meta->array_sectors);
	/* A percentage moves along; mddev->lock orders this with the store. */
	spin_lock(&mddev->lock);
	if (conf->low_water_pct)
		WRITE_ONCE(conf->low_water,
			   cow_low_water_of(conf, conf->low_water_pct));
	spin_unlock(&mddev->lock);
	if (st.total_slots == old)
		return 0;
	if (st.total_slots < old) {
		pr_info("md/cow:%s: dirty device shrank by %llu slots to %llu\n",
			mdname(mddev), old - st.total_slots, st.total_slots);
		cow_queue_commit(conf);
		return 0;
	}
	pr_info("md/cow:%s: dirty device grew by %llu slots to %llu\n",
		mdname(mddev), st.total_slots - old, st.total_slots);
	if (st.total_slots - st.used_slots > READ_ONCE(conf->low_water) &&
	    xchg(&conf->low, false))
		queue_work(conf->wq, &conf->notify_work);	/* low -> ok */
	WRITE_ONCE(conf->nospace_expired, false);
	cow_set_mode(conf, COW_MODE_WRITE);
	cow_unpark(conf, false);
	cow_queue_commit(conf);
	return 0;
}

static int cow_add_disk(struct mddev *mddev, struct md_rdev *rdev)
{
	pr_warn("md/cow:%s: cannot add %pg: a cow array has exactly one origin and one dirty device\n",
		mdname(mddev), rdev->bdev);
	return -EINVAL;
}

static int cow_remove_disk(struct mddev *mddev, struct md_rdev *rdev)
{
	/* The dirty device cannot leave a running array. */
	return -EBUSY;
}

static int cow_spare_active(struct mddev *mddev)
{
	return 0;
}

static void cow_quiesce(struct mddev *mddev, int quiesce)
{
	struct cow_conf *conf = mddev->private;

	/* Entering quiescence (stop, suspend): nothing in flight, all durable. */
	if (quiesce && conf)
		cow_drain_and_commit(conf);
}

static struct md_personality cow_personality = {
	.name		= "cow",
	.level		= COW_LEVEL,
	.owner		= THIS_MODULE,
	.make_request	= cow_make_request,
	.run		= cow_run,
	.free		= cow_free,
	.status		= cow_status,
	.error_handler	= cow_error,
	.hot_add_disk	= cow_add_disk,
	.hot_remove_disk = cow_remove_disk,
	.spare_active	= cow_spare_active,
	.size		= cow_size,
	.resize		= cow_resize,
	.quiesce	= cow_quiesce,
	.sync_request	= cow_sync_request,
};

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
DECLARE_FAULT_ATTR(cow_fail_alloc_attr);
static struct dentry *cow_fault_dir;

int cow_fault_init(void)
{
	cow_fault_dir = fault_create_debugfs_attr("md-cow-fail-alloc", NULL,
						  &cow_fail_alloc_attr);
	return PTR_ERR_OR_ZERO(cow_fault_dir);
}

void cow_fault_exit(void)
{
	debugfs_remove_recursive(cow_fault_dir);
}
#endif

static int __init cow_init(void)
{
	int err;

	err = cow_fault_init();
	if (err)
		return err;
	err = register_md_personality(&cow_personality);
	if (err)
		cow_fault_exit();
	return err;
}

static void __exit cow_exit(void)
{
	unregister_md_personality(&cow_personality);
	cow_fault_exit();
}

module_init(cow_init);
module_exit(cow_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("md copy-on-write personality over a read-only origin");
MODULE_ALIAS("md-cow");
MODULE_ALIAS("md-level-64");
