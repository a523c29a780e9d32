/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-metadata.h - the interface between the cow I/O path and the only
 * file that knows the on-disk format (md-cow-metadata.c).
 *
 * Context rules: functions documented "may sleep" do synchronous I/O and
 * must be called from process context; the others take only the map
 * spinlock and may be called from any context that may take a spinlock.
 */
#ifndef _MD_COW_METADATA_H
#define _MD_COW_METADATA_H

#include <linux/types.h>
#include <linux/blkdev.h>

struct md_rdev;
struct cow_md;

#define COW_LOCATOR_MAX	128
/* Sub-chunks per chunk in format 2. */
#define COW_MD_SUBCHUNKS	16

/**
 * struct cow_meta - constant facts from the cow superblock, CPU order.
 * @has_origin: false: unwritten chunks read as zeros
 * @read_only: unknown ro_compat features: the array must not be written
 * @needs_check: the superblock says damage was seen before
 * @format: 1, or 2 with COW_FEATURE_INCOMPAT_SUBCHUNK (may change from 1
 *	to 2 while the array runs: cow_md_set_format())
 * @sub_sectors: sectors per sub-chunk, 0 when chunks have no sub-chunks
 *	(format 1, or chunks below 8 KiB); read with READ_ONCE, it changes
 *	once from 0 on an upgrade
 * @array_sectors: size of the cow array, 512-byte sectors
 * @chunk_sectors: chunk size, a power of two from 8 to 2048
 * @origin_sectors: recorded origin size
 * @origin_fp: recorded origin fingerprint
 * @origin_fp_method: COW_FP_METHOD_*
 * @origin_locator: stable path of the origin, NUL terminated
 * @data_start: first block of chunk storage, in 4 KiB blocks
 * @nr_chunks: chunks of the array (the last may be partial)
 * @clean_ok: the map may hold clean chunks (COW_FEATURE_INCOMPAT_CLEAN);
 *	changes once from false to true (cow_md_set_cache()), read with
 *	READ_ONCE
 */
struct cow_meta {
	bool has_origin;
	bool read_only;
	bool needs_check;
	unsigned int format;
	unsigned int sub_sectors;
	sector_t array_sectors;
	unsigned int chunk_sectors;
	sector_t origin_sectors;
	u32 origin_fp;
	u32 origin_fp_method;
	char origin_locator[COW_LOCATOR_MAX + 1];
	u64 data_start;
	u64 nr_chunks;
	bool clean_ok;
};

/**
 * struct cow_md_stats - a consistent snapshot of the allocation state.
 * @seq: sequence number of the last commit
 * @mapped_chunks: chunks with a dirty copy (committed or not)
 * @partial_chunks: mapped chunks with sub-chunks not yet in their slot
 * @zero_chunks: mapped chunks that are zero chunks (no slot)
 * @clean_chunks: mapped chunks that are clean copies of the origin's
 *	(copy-on-read), which may be dropped at any time
 * @used_slots: chunk slots not free: data, metadata, and slots freed but
 *	not yet reusable (@freed_slots)
 * @freed_slots: slots a discard or write-zeroes unmapped that wait for
 *	the commit recording it and for the I/O that may still use them
 * @alloc_next: one past the highest slot that may be in use
 * @total_slots: chunk slots the dirty device has room for
 * @meta_blocks: 4 KiB blocks taken by map metadata
 * @cached_nodes: map nodes held in memory
 * @uncommitted: there are changes not yet committed
 */
struct cow_md_stats {
	u64 seq;
	u64 mapped_chunks;
	u64 partial_chunks;
	u64 zero_chunks;
	u64 clean_chunks;
	u64 used_slots;
	u64 freed_slots;
	u64 alloc_next;
	u64 total_slots;
	u64 meta_blocks;
	u64 cached_nodes;
	bool uncommitted;
};

/**
 * cow_md_open() - load and check the cow metadata of a dirty device.
 * @dirty: the md member holding the cow metadata (data area relative I/O)
 * @dirty_sectors: size of md's data area the array may use for slots
 * @uuid: the md array's UUID; metadata of another array is refused
 * @name: array name for messages
 * @cache_leaves: how many map leaves to keep in memory at most
 *
 * Reads both superblock copies and uses the valid one with the higher
 * sequence number, then walks the whole chunk map once to check it and to
 * build the in-core "mapped" bitmap.  Every refusal is explained in the
 * kernel log.  May sleep.
 *
 * Return: the metadata handle or an ERR_PTR: -EIO (unreadable), -EUCLEAN
 * (damaged), -ENODEV (metadata of another array), -EOPNOTSUPP (unknown
 * version or incompat feature), -ENOSPC (dirty device shrank), -ENOMEM.
 */
struct cow_md *cow_md_open(struct md_rdev *dirty, sector_t dirty_sectors,
			   const u8 *uuid, const char *name,
			   unsigned int cache_leaves);

/**
 * cow_md_close() - free the handle; does not commit.  May sleep.
 * @md: the handle
 */
void cow_md_close(struct cow_md *md);

/**
 * cow_md_meta() - the constant superblock facts.
 * @md: the handle
 *
 * Return: a pointer valid until cow_md_close().
 */
const struct cow_meta *cow_md_meta(struct cow_md *md);

/**
 * cow_md_is_mapped() - whether a chunk has a dirty copy.  Lockless.
 * @md: the handle
 * @chunk: chunk number
 *
 * Once true for a chunk it stays true.
 */
bool cow_md_is_mapped(struct cow_md *md, u64 chunk);

/**
 * cow_md_subchunks() - the sub-chunks of a chunk, as a mask.
 * @md: the handle
 * @chunk: chunk number
 *
 * Return: a bit per sub-chunk that starts inside the array (the last chunk
 * may be partial); 0 when chunks have no sub-chunks (cow_meta.sub_sectors).
 */
u16 cow_md_subchunks(struct cow_md *md, u64 chunk);

/**
 * struct cow_md_slots - a list of slots.
 * @slot: the slots (kvmalloc)
 * @nr: entries used
 * @cap: entries allocated
 */
struct cow_md_slots {
	u64 *slot;
	u64 nr;
	u64 cap;
};

/* The "slot" of a zero chunk (format 2): it reads as zeros, has no slot. */
#define COW_MD_SLOT_ZERO	U64_MAX
/*
 * The "missing" sub-chunks of a clean chunk: the whole chunk is in its
 * slot, a copy of the origin's content that may be dropped.
 */
#define COW_MD_CLEAN		0xffffU

/**
 * cow_md_lookup() - find the slot of a mapped chunk without sleeping.
 * @md: the handle
 * @chunk: a mapped chunk
 * @slot: set to the chunk's slot, COW_MD_SLOT_ZERO for a zero chunk
 * @missing: set to the sub-chunks not in the slot (bit i: sub-chunk i
 *	still reads from the origin); 0 when the whole chunk is there;
 *	COW_MD_CLEAN for a clean chunk (the whole chunk is there)
 *
 * Return: 0, -EAGAIN when the map leaf is not in memory (use
 * cow_md_lookup_slow()), -ENOENT when the chunk was unmapped since the
 * caller saw it mapped, or -EUCLEAN when the map has no entry for the
 * chunk (damage: needs_check is then set).
 */
int cow_md_lookup(struct cow_md *md, u64 chunk, u64 *slot, u16 *missing);

/**
 * cow_md_lookup_slow() - like cow_md_lookup(), loading the leaf if needed.
 * @md: the handle
 * @chunk: a mapped chunk
 * @slot: set to the chunk's slot
 * @missing: set to the sub-chunks not in the slot
 *
 * May sleep.  Return: 0, -ENOMEM, -ENOENT (unmapped meanwhile), -EIO (no
 * copy of a node could be read: an I/O error, retrying may work) or
 * -EUCLEAN (the map is damaged: the needs_check flag is set).
 */
int cow_md_lookup_slow(struct cow_md *md, u64 chunk, u64 *slot, u16 *missing);

/**
 * cow_md_alloc_slot() - take the next free chunk slot for a chunk's data.
 * @md: the handle
 * @slot: set to the slot
 *
 * Keeps enough slots back for the map nodes that every insert in flight
 * may need.  Each slot must end in cow_md_insert() or cow_md_free_slot().
 * Return: 0 or -ENOSPC.
 */
int cow_md_alloc_slot(struct cow_md *md, u64 *slot);

/**
 * cow_md_free_slot() - give back a slot whose chunk was not inserted.
 * @md: the handle
 * @slot: from cow_md_alloc_slot(), its copy-up failed
 *
 * The slot is handed out again at once (nothing on disk names it).
 */
void cow_md_free_slot(struct cow_md *md, u64 slot);

/**
 * cow_md_slot_sector() - where a slot's data starts.
 * @md: the handle
 * @slot: the slot
 *
 * Return: sector relative to md's data area on the dirty device.
 */
sector_t cow_md_slot_sector(struct cow_md *md, u64 slot);

/**
 * cow_md_insert() - map @chunk to @slot (uncommitted until the next commit).
 * @md: the handle
 * @chunk: an unmapped chunk, or a zero chunk, whose data is complete in
 *	@slot but for the sub-chunks in @missing
 * @slot: from cow_md_alloc_slot()
 * @missing: sub-chunks whose data is not in @slot (format 2 only; a bit per
 *	existing sub-chunk, never all of them), else 0; or COW_MD_CLEAN: the
 *	whole chunk is in @slot, a copy of the origin (needs clean_ok)
 *
 * May sleep (loads map nodes).  Return: 0, -ENOMEM, -ENOSPC (no slot left
 * for a new node pair), -EIO (a node could not be read) or -EUCLEAN
 * (damage; needs_check is then set).
 */
int cow_md_insert(struct cow_md *md, u64 chunk, u64 slot, u16 missing);

/**
 * cow_md_fill() - record that sub-chunks of a mapped chunk are in its slot.
 * @md: the handle
 * @chunk: a mapped chunk
 * @filled: sub-chunks whose data was written to the slot (completed writes)
 *
 * Uncommitted until the next commit, which flushes the data first.  May
 * sleep.  Return: 0, -ENOMEM, -EIO or -EUCLEAN (as cow_md_insert()).
 */
int cow_md_fill(struct cow_md *md, u64 chunk, u16 filled);

/**
 * cow_md_evict() - unmap @chunk if it is a clean chunk, freeing its slot.
 * @md: the handle
 * @chunk: the chunk
 *
 * Atomic against the other map changes: a chunk that a write made
 * dirty meanwhile stays.  May sleep.  Return: 1 if it was unmapped, 0 if
 * it was not clean, or -ENOMEM, -EIO or -EUCLEAN.
 */
int cow_md_evict(struct cow_md *md, u64 chunk);

/**
 * cow_md_keep() - make a clean chunk an ordinary mapped one (hydration).
 * @md: the handle
 * @chunk: the chunk; nothing happens unless it is clean
 *
 * May sleep.  Return: 0, -ENOMEM, -EIO or -EUCLEAN.
 */
int cow_md_keep(struct cow_md *md, u64 chunk);

/**
 * cow_md_next_clean() - the first clean chunk at or after @from.
 * @md: the handle
 * @from: chunk number
 *
 * Lockless (a hint: check with cow_md_evict()).  Return: the chunk, or
 * the number of chunks if there is none.
 */
u64 cow_md_next_clean(struct cow_md *md, u64 from);

/**
 * cow_md_set_cache() - turn copy-on-read on or off (COW_SB_F_CACHE).
 * @md: the handle
 * @on: on or off
 *
 * Turning it on the first time allows clean chunks in the map from the
 * next commit on (COW_FEATURE_INCOMPAT_CLEAN): only in format 2 with an
 * origin.  Clean chunks stay mapped when it is turned off.  May sleep.
 * Return: 0, -EINVAL (format 1, no origin, a failed handle) or -ENOMEM.
 */
int cow_md_set_cache(struct cow_md *md, bool on);

/**
 * cow_md_cache() - whether copy-on-read is on.
 * @md: the handle
 */
bool cow_md_cache(struct cow_md *md);

/**
 * cow_md_discard() - forget what a discard covers of a chunk (format 2).
 * @md: the handle
 * @chunk: the chunk; no copy-up or other map change of it may be running
 * @subs: the sub-chunks the discard covers entirely; every existing one
 *	(or any value when the chunk has no sub-chunks) for the whole chunk
 *
 * A whole chunk is unmapped: it reads from the origin again and its slot
 * is freed (cow_md_take_freed()).  Otherwise the sub-chunks in @subs are
 * marked missing from the slot, and the chunk is unmapped when none is
 * left; part of a zero chunk stays as it is; a clean chunk is unmapped
 * whole (it read as the origin anyway).  Nothing happens to an
 * unmapped chunk.  May sleep.  Return: 0, -ENOMEM, -EIO or -EUCLEAN.
 */
int cow_md_discard(struct cow_md *md, u64 chunk, u16 subs);

/**
 * cow_md_zero() - make @chunk a zero chunk (format 2), freeing its slot.
 * @md: the handle
 * @chunk: the chunk; no copy-up or other map change of it may be running
 *
 * May sleep.  Return: 0, -ENOMEM, -ENOSPC (no room for the node pairs it
 * may need), -EIO or -EUCLEAN.
 */
int cow_md_zero(struct cow_md *md, u64 chunk);

/**
 * cow_md_take_freed() - take the slots unmapped by durable commits.
 * @md: the handle
 * @freed: set to the list (empty if none); the caller waits until no
 *	I/O that looked a chunk up before the list was taken is still
 *	running, then passes it to cow_md_release_freed()
 *
 * Return: the number of slots taken.
 */
u64 cow_md_take_freed(struct cow_md *md, struct cow_md_slots *freed);

/**
 * cow_md_release_freed() - make slots from cow_md_take_freed() free.
 * @md: the handle
 * @freed: the list; emptied and its memory freed
 */
void cow_md_release_freed(struct cow_md *md, struct cow_md_slots *freed);

/**
 * cow_md_set_format() - upgrade the array's format.
 * @md: the handle
 * @format: 2 (1 is accepted only if the format is 1 already)
 *
 * The next commit records it.  May sleep.  Return: 0 or -EINVAL
 * (a downgrade, an unknown format, or a failed handle).
 */
int cow_md_set_format(struct cow_md *md, unsigned int format);

/**
 * cow_md_detach() - record that the array has no origin any more.
 * @md: metadata handle
 *
 * Every chunk must be in the dirty device (mapped, no sub-chunk missing,
 * not clean, or a zero chunk), and no merge may be under way.  From the
 * next commit on, the superblock has COW_SB_F_NO_ORIGIN and no origin
 * identity, and @md's meta says there is no origin.  Returns 0, or
 * -EBUSY if a chunk still reads from the origin or a merge runs, or -EIO
 * after a failure.
 */
int cow_md_detach(struct cow_md *md);

/**
 * cow_md_hydrating() - whether a hydration was asked for and not finished.
 * @md: metadata handle
 */
bool cow_md_hydrating(struct cow_md *md);

/**
 * cow_md_set_hydrating() - record the start or the end of a hydration.
 * @md: metadata handle
 * @on: started (true) or finished (false)
 *
 * The next commit records it in the superblock (COW_SB_F_HYDRATE).
 */
void cow_md_set_hydrating(struct cow_md *md, bool on);

/**
 * cow_md_merging() - whether a merge into the origin is under way.
 * @md: metadata handle
 */
bool cow_md_merging(struct cow_md *md);

/**
 * cow_md_set_merging() - record the start or the end of a merge.
 * @md: metadata handle
 * @on: started (true) or finished (false)
 * @fp: when finished: the origin's new fingerprint
 *
 * The next commit records it (COW_SB_F_MERGE, and the fingerprint).
 * Return: 0, or -EINVAL without an origin or on a failed handle.
 */
int cow_md_set_merging(struct cow_md *md, bool on, u32 fp);

/**
 * cow_md_commit() - make every insert so far durable.
 * @md: the handle
 *
 * Writes the changed map nodes, flushes the dirty device, then writes the
 * superblock with FUA.  The first commit after cow_md_open() first
 * rewrites the superblock with a higher seq, so that no seq is used twice
 * across crashes.  Never allocates memory.  May sleep.  Return: 1 if
 * something was committed (the dirty device was flushed), 0 if there was
 * nothing to commit, or -EIO when a write failed (the metadata handle is
 * then failed and commits no more).
 */
int cow_md_commit(struct cow_md *md);

/**
 * cow_md_resize() - take into account a new size of the dirty device.
 * @md: the handle
 * @dirty_sectors: the new size of md's data area on the dirty device
 * @old_slots: set to the number of slots before the call
 *
 * Growing adds slots; shrinking is allowed down to the slots in use.
 * May sleep.  Return: 0, -EINVAL (smaller than the slots in use) or
 * -ENOMEM.
 */
int cow_md_resize(struct cow_md *md, sector_t dirty_sectors, u64 *old_slots);

/**
 * cow_md_get_stats() - snapshot the allocation state.
 * @md: the handle
 * @st: filled
 */
void cow_md_get_stats(struct cow_md *md, struct cow_md_stats *st);

/**
 * cow_md_wants_commit() - too many changed nodes are pinned in memory.
 * @md: the handle
 *
 * Return: true when the caller should schedule a commit soon.
 */
bool cow_md_wants_commit(struct cow_md *md);

/*
 * cow_md_needs_check() - metadata damage was seen (now, or before the
 * array was assembled): the array must not be written.
 */
bool cow_md_needs_check(struct cow_md *md);

/**
 * cow_origin_verify() - check that @origin is the origin @md was made for.
 * @origin: the opened origin block device
 * @cm: the superblock facts
 * @name: array name for messages
 *
 * Compares the size and the sampled fingerprint.  May sleep.
 *
 * Return: 0 if it matches, -EIO if the origin cannot be read, -EINVAL if it
 * is not the recorded origin, -EOPNOTSUPP for an unknown fingerprint method.
 */
int cow_origin_verify(struct block_device *origin, const struct cow_meta *cm,
		      const char *name);

/**
 * cow_origin_size_ok() - check only the size of the origin (a merge is
 * under way: its fingerprint cannot match).
 * @origin: the opened origin block device
 * @cm: the superblock facts
 * @name: array name for messages
 *
 * Return: 0 or -EINVAL.
 */
int cow_origin_size_ok(struct block_device *origin, const struct cow_meta *cm,
		       const char *name);

/**
 * cow_origin_fingerprint() - the fingerprint of @origin (method 1).
 * @origin: the opened origin block device
 * @fp: set to it
 *
 * May sleep.  Return: 0, -EIO or -ENOMEM.
 */
int cow_origin_fingerprint(struct block_device *origin, u32 *fp);

/**
 * cow_handoff_load() - read the origin's current device number, written by
 * mdadm into the handoff block before the array was started.
 * @dirty: the dirty device
 * @uuid: the md array's UUID
 * @name: array name for messages
 * @origin: set to the device number on success
 *
 * May sleep.  Return: 0, -EIO, -EUCLEAN (missing or damaged handoff
 * block), -ENODEV (handoff of another array) or -ENOMEM.
 */
int cow_handoff_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		     dev_t *origin);

#endif /* _MD_COW_METADATA_H */
