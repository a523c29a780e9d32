// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-cache.c - copy-on-read policy of the md "cow" personality: which
 * reads promote their chunk, and which clean chunks are dropped.  See
 * md-cow-cache.h.
 */
#include <linux/bio.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>

#include "md-cow-cache.h"
#include "md-cow-metadata.h"

void cow_cache_init(struct cow_cache *c, struct cow_md *md)
{
	c->md = md;
	c->seq_cutoff = COW_CACHE_SEQ_CUTOFF;
	spin_lock_init(&c->lock);
	mutex_init(&c->evict_mutex);
}

/*
 * Count @bio in the stream it continues (or start a new one in place of
 * the least recently used); returns the stream's length with it.
 */
static u64 cow_cache_stream(struct cow_cache *c, struct bio *bio)
{
	sector_t start = bio->bi_iter.bi_sector;
	struct cow_cache_stream *s, *lru = &c->streams[0];
	u64 len;
	int i;

	spin_lock(&c->lock);
	c->tick++;
	for (i = 0; i < COW_CACHE_STREAMS; i++) {
		s = &c->streams[i];
		if (s->sectors && s->end == start)
			break;
		if (s->used < lru->used)
			lru = s;
	}
	if (i == COW_CACHE_STREAMS) {
		s = lru;
		s->sectors = 0;
	}
	s->sectors += bio_sectors(bio);
	s->end = bio_end_sector(bio);
	s->used = c->tick;
	len = s->sectors;
	spin_unlock(&c->lock);
	return len;
}

bool cow_cache_admit(struct cow_cache *c, struct bio *bio, bool mapped,
		     u64 free_slots, u64 low_water)
{
	unsigned int cutoff = READ_ONCE(c->seq_cutoff);
	u64 len = cow_cache_stream(c, bio);

	if (mapped)
		return false;
	atomic64_inc(&c->misses);
	if (cutoff && len > cutoff)
		return false;
	if (free_slots <= 2 * low_water || (bio->bi_opf & REQ_NOWAIT))
		return false;
	if (atomic_inc_return(&c->promoting) > COW_CACHE_PROMOTES) {
		atomic_dec(&c->promoting);
		return false;
	}
	return true;
}

void cow_cache_promote_done(struct cow_cache *c, bool promoted)
{
	if (promoted)
		atomic64_inc(&c->promoted);
	atomic_dec(&c->promoting);
}

s64 cow_cache_evict(struct cow_cache *c, u64 want)
{
	u64 nr = cow_md_meta(c->md)->nr_chunks, chunk, start, n = 0;
	bool wrapped = false;
	int err = 0;

	mutex_lock(&c->evict_mutex);
	start = c->cursor;
	chunk = start;
	while (n < want) {
		chunk = cow_md_next_clean(c->md, chunk);
		if (chunk >= nr) {
			if (wrapped || !start)
				break;
			wrapped = true;
			chunk = 0;
			continue;
		}
		if (wrapped && chunk >= start)
			break;
		while ((err = cow_md_evict(c->md, chunk)) == -ENOMEM)
			memalloc_retry_wait(GFP_NOIO);
		if (err < 0)
			break;
		n += err;
		chunk++;
		cond_resched();
	}
	c->cursor = chunk < nr ? chunk : 0;
	mutex_unlock(&c->evict_mutex);
	atomic64_add(n, &c->evicted);
	return err < 0 && !n ? err : n;
}

ssize_t cow_cache_show(struct cow_cache *c, char *page)
{
	return sprintf(page, "%llu %llu %llu %llu\n",
		       (u64)atomic64_read(&c->hits),
		       (u64)atomic64_read(&c->misses),
		       (u64)atomic64_read(&c->promoted),
		       (u64)atomic64_read(&c->evicted));
}
