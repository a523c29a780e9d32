/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-cache.h - copy-on-read (cache mode): the policy of which reads
 * copy their chunk into the dirty device, and which clean chunks are
 * dropped when space runs low.
 *
 * A read of a chunk the array still reads from its origin may start a
 * *promotion*: the chunk is copied from the origin into a slot and mapped
 * as a clean chunk (md-cow-metadata.h, COW_MD_CLEAN), from which later
 * reads are served.  Promotions are skipped for reads that continue a
 * sequential stream longer than the cutoff (a streaming read must not
 * flush the cache), when free slots are at or below twice the low-water
 * mark (they are for writes), and when COW_CACHE_PROMOTES are in flight.
 * The I/O is md-cow-main.c's: a promotion goes through the chunk's worker
 * like a first write.  Clean chunks are dropped (their slots freed) in
 * chunk order from a rotating cursor, before a write would get ENOSPC.
 */
#ifndef _MD_COW_CACHE_H
#define _MD_COW_CACHE_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

struct bio;
struct cow_md;

/* Promotions in flight at most, per array. */
#define COW_CACHE_PROMOTES	8
/* Sequential streams told apart. */
#define COW_CACHE_STREAMS	8
/* Default sequential cutoff: 4 MiB, in sectors. */
#define COW_CACHE_SEQ_CUTOFF	8192

/**
 * struct cow_cache_stream - one recent sequential stream of reads.
 * @end: sector after its last read
 * @sectors: its length so far
 * @used: a counter value from the last read that continued it (LRU)
 */
struct cow_cache_stream {
	sector_t end;
	u64 sectors;
	u64 used;
};

/**
 * struct cow_cache - one array's copy-on-read state (in its conf).
 * @md: its metadata
 * @seq_cutoff: reads of a stream longer than this many sectors are not
 *	promoted; 0: no cutoff (md/cow/sequential_cutoff, in KiB)
 * @lock: protects @streams and @tick
 * @streams: the recent streams
 * @tick: counts reads, for @streams' LRU
 * @promoting: promotions in flight
 * @hits: reads served by clean chunks
 * @misses: reads of chunks that are not mapped, with copy-on-read on
 * @promoted: chunks promoted
 * @evicted: clean chunks dropped
 * @evict_mutex: one eviction scan at a time; protects @cursor
 * @cursor: where the next eviction scan starts
 */
struct cow_cache {
	struct cow_md *md;
	unsigned int seq_cutoff;
	spinlock_t lock;	/* streams */
	struct cow_cache_stream streams[COW_CACHE_STREAMS];
	u64 tick;
	atomic_t promoting;
	atomic64_t hits;
	atomic64_t misses;
	atomic64_t promoted;
	atomic64_t evicted;
	struct mutex evict_mutex;	/* eviction scans */
	u64 cursor;
};

void cow_cache_init(struct cow_cache *c, struct cow_md *md);

/**
 * cow_cache_admit() - whether a read should promote its chunk.
 * @c: the array's cache state
 * @bio: a read inside one chunk, with copy-on-read on
 * @mapped: the chunk is mapped (no promotion; the read is still counted
 *	in its stream)
 * @free_slots: free slots of the dirty device
 * @low_water: the low-water mark, in slots
 *
 * Any context.  On true, the caller starts a promotion and calls
 * cow_cache_promote_done() when it ends.
 */
bool cow_cache_admit(struct cow_cache *c, struct bio *bio, bool mapped,
		     u64 free_slots, u64 low_water);

/**
 * cow_cache_promote_done() - a promotion admitted by cow_cache_admit() ended.
 * @c: the array's cache state
 * @promoted: it mapped the chunk as a clean chunk
 */
void cow_cache_promote_done(struct cow_cache *c, bool promoted);

/**
 * cow_cache_hit() - count a read served by a clean chunk.
 * @c: the array's cache state
 */
static inline void cow_cache_hit(struct cow_cache *c)
{
	atomic64_inc(&c->hits);
}

/**
 * cow_cache_evict() - drop up to @want clean chunks.
 * @c: the array's cache state
 * @want: how many
 *
 * Unmaps them (cow_md_evict()); their slots are free once the caller has
 * committed and the slots were released (cow_md_take_freed()).  May sleep.
 * Return: how many were dropped, or -EUCLEAN (map damage) or -EIO.
 */
s64 cow_cache_evict(struct cow_cache *c, u64 want);

/**
 * cow_cache_show() - md/cow/cache_stats: "hits misses promoted evicted".
 * @c: the array's cache state
 * @page: sysfs buffer
 */
ssize_t cow_cache_show(struct cow_cache *c, char *page);

#endif /* _MD_COW_CACHE_H */
