// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-metadata.c - the only code in the kernel that knows the cow
 * on-disk format (md-cow_p.h, Documentation/admin-guide/md-cow.rst).
 *
 * The dirty device's data area starts with two copies of the cow superblock
 * (blocks 0 and 1) and mdadm's handoff block (block 2), followed from
 * data_start on by chunk slots.  Slots are handed out in order, to hold a
 * chunk's data or as metadata units that hold node pairs of the chunk map.
 *
 * The chunk map is a radix tree of 4 KiB nodes (COW_NODE_ENTRIES entries
 * each).  Every node has two on-disk copies and never moves: a commit
 * writes each changed node into the copy that does not hold its committed
 * content, flushes, then writes the superblock copy that is not the
 * current one with seq + 1 and FUA.  A crash at any point leaves the old
 * superblock and, through the seq rule, the old nodes in force; nothing
 * already committed is ever overwritten before the commit that replaces it
 * is complete.
 *
 * In memory: a bit per origin chunk says whether it is mapped (reads of
 * unmapped chunks never look at the map), interior nodes are all cached,
 * and leaves are cached up to a bound, evicted least recently used when
 * clean.  RAM use is therefore about nr_chunks / 8 bytes for the bitmap,
 * 4 KiB per interior node (one per COW_NODE_ENTRIES leaves) and 4 KiB per
 * cached leaf.
 *
 * Every metadata block carries its magic, its own block number, the format
 * version or commit seq, and a crc32c over the whole block, so a block that
 * was misdirected, torn or belongs to another array is refused.
 *
 * The origin is identified by its size and a fingerprint: a crc32c over its
 * size and 16 sampled 4 KiB blocks (first, last, and evenly spaced between).
 * It detects a wrong or replaced origin cheaply; it cannot see a change to a
 * block that was not sampled (see md-cow.rst, "Origin identity").
 *
 * Locking: io_mutex serialises everything that changes the map or does
 * metadata I/O (inserts, fills, node loads, a commit's node writes).
 * commit_mutex serialises commits: a commit packs and writes the changed
 * nodes and packs the superblock under io_mutex, marks those nodes
 * "writing" (not evictable), then drops io_mutex for the flush and the
 * superblock write, so map changes go on meanwhile and wait for the next
 * commit.  The spinlock protects the node cache, node entries and
 * allocation state against the non-sleeping lookups of the I/O path;
 * changes take both.
 */
#include <linux/bio.h>
#include <linux/bitmap.h>
#include <linux/crc32c.h>
#include <linux/hashtable.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>

#include "md.h"
#include "md-cow_p.h"
#include "md-cow-metadata.h"
#include "md-cow-fault.h"

static_assert(sizeof(struct cow_sb_disk) <= COW_BLOCK_SIZE);
static_assert(sizeof(struct cow_handoff_disk) <= COW_BLOCK_SIZE);
static_assert(sizeof(struct cow_node_disk) == COW_BLOCK_SIZE);
static_assert(COW_LOCATOR_MAX == COW_LOCATOR_LEN);
static_assert(COW_MD_SUBCHUNKS == COW_SUBCHUNKS);

#define COW_MIN_CACHED_LEAVES	16
/* Node writes a commit has in flight at once (a block buffer each). */
#define COW_COMMIT_BATCH	16

/**
 * struct cow_node - a map node in memory.
 * @hnode: in cow_md.nodes (lock)
 * @lru: in cow_md.lru while a clean, evictable leaf (lock)
 * @index: node index at its level
 * @level: 0 for leaves
 * @pair: first block of the node's two on-disk copies
 * @committed: the copy holding the committed content, -1 for a node that
 *	was never committed (io_mutex)
 * @dirty: changed since the last commit (io_mutex and lock)
 * @writing: written by the commit in progress, whose superblock is not
 *	durable yet: not evictable (io_mutex and lock)
 * @ent: the entries, CPU order (changed under io_mutex and lock); a
 *	separate 4 KiB allocation, so a node costs 4 KiB and a small struct
 *	instead of an 8 KiB slab object
 */
struct cow_node {
	struct hlist_node hnode;
	struct list_head lru;
	u64 index;
	unsigned int level;
	u64 pair;
	int committed;
	bool dirty;
	bool writing;
	u64 *ent;
};

/**
 * struct cow_commit_io - one block write of a commit.
 * @bio: built anew for each write
 * @bvec: its one segment
 * @page: the block buffer, allocated at open
 */
struct cow_commit_io {
	struct bio bio;
	struct bio_vec bvec;
	struct page *page;
};

/**
 * struct cow_md - the metadata handle.
 * @dirty: the dirty device
 * @name: array name for messages
 * @uuid: the md array UUID
 * @meta: constant superblock facts
 * @chunk_blocks: 4 KiB blocks per chunk (slot)
 * @unit_slots: slots per metadata unit
 * @unit_pairs: node pairs per metadata unit
 * @depth: levels of the map
 * @mapped: bit per chunk, set under @lock, read locklessly
 * @commit_mutex: serialises commits; taken before io_mutex
 * @io_mutex: serialises map changes, node loads and the part of a commit
 *	that writes the nodes (not its flush and superblock write)
 * @sb_page: committed superblock image (io_mutex)
 * @sb_copy: superblock copy holding it (io_mutex)
 * @commit_io: COW_COMMIT_BATCH block writes with their buffers, allocated
 *	at open so that a commit never fails for lack of memory
 *	(commit_mutex)
 * @seq_fresh: a superblock with a seq above everything a crash before this
 *	assembly can have left on disk is durable (io_mutex); see
 *	cow_md_commit()
 * @failed: a commit failed; no more commits (io_mutex)
 * @live: the map walk of cow_md_open() is done: @mapped and @meta_slots
 *	are complete, and nodes read back must agree with them
 * @lock: protects the fields below and the node cache
 * @seq: seq of the committed superblock (changed under both locks)
 * @root: first block of the root pair, 0 = empty map
 * @root_seq: seq of the commit that last wrote the root
 * @alloc_next: next never-used slot
 * @total_slots: slots the dirty device has room for
 * @meta_unit: first block of the metadata unit being filled, 0 = none
 * @meta_used: pairs used in @meta_unit
 * @meta_blocks: blocks in metadata units
 * @mapped_chunks: chunks mapped (committed or not)
 * @partial_chunks: mapped chunks with sub-chunks missing from their slot
 * @meta_slots: bit per slot holding node pairs (a metadata unit); bits are
 *	set under @lock and io_mutex; the bitmap is replaced (to grow it)
 *	under both
 * @meta_bits: bits in @meta_slots
 * @inflight: slots handed out whose insert has not finished (and zero
 *	chunks being recorded: they may need node pairs too)
 * @slot_busy: bit per slot that is not free: chunk data, map nodes,
 *	handed out to a write, or freed but not yet reusable; sized and
 *	replaced like @meta_slots
 * @nr_free: slots below @alloc_next whose @slot_busy bit is clear
 * @free_hint: no free slot lies below it
 * @zero_chunks: chunks mapped as zero chunks (format 2)
 * @clean: bit per chunk that is a clean chunk, set under @lock, read
 *	locklessly; allocated when the map may hold clean chunks
 *	(meta.clean_ok), set once under io_mutex and @lock
 * @clean_chunks: chunks mapped as clean chunks
 * @cache_on: copy-on-read is on (superblock flag; lock)
 * @merging: a merge into the origin is under way (superblock flag; lock)
 * @freeing: slots unmapped since the last commit packed its superblock
 *	(io_mutex)
 * @committing: slots unmapped by the commit in progress (io_mutex)
 * @grace: slots unmapped by a durable commit, not yet reusable: I/O may
 *	still use them (io_mutex); see cow_md_take_freed()
 * @uncommitted: there are changes the last commit did not make durable
 * @changes: count of changes (cow_md_changed())
 * @packed_changes: @changes when the last commit packed its superblock
 * @needs_check: metadata damage was seen (superblock flag; lock)
 * @hydrating: a hydration was asked for and has not finished (superblock
 *	flag; lock)
 * @nodes: cached nodes by (level, index)
 * @lru: clean cached leaves, least recently used first
 * @nr_nodes: cached nodes
 * @nr_lru: leaves on @lru
 * @nr_dirty: dirty nodes
 * @max_leaves: bound of @nr_lru
 */
struct cow_md {
	struct md_rdev *dirty;
	char name[32];
	u8 uuid[16];
	struct cow_meta meta;
	unsigned int chunk_blocks;
	unsigned int unit_slots;
	unsigned int unit_pairs;
	unsigned int depth;
	unsigned long *mapped;

	struct mutex commit_mutex;	/* one commit at a time */
	struct mutex io_mutex;	/* map changes, node loads, node writes */
	struct page *sb_page;
	unsigned int sb_copy;
	struct cow_commit_io *commit_io;
	bool seq_fresh;
	bool failed;
	bool live;

	spinlock_t lock;	/* cache, entries, allocation vs. lookups */
	u64 seq;
	u64 root;
	u64 root_seq;
	u64 alloc_next;
	u64 total_slots;
	u64 meta_unit;
	u64 meta_used;
	u64 meta_blocks;
	u64 mapped_chunks;
	u64 partial_chunks;
	unsigned long *meta_slots;
	u64 meta_bits;
	u64 inflight;
	unsigned long *slot_busy;
	u64 nr_free;
	u64 free_hint;
	u64 zero_chunks;
	unsigned long *clean;
	u64 clean_chunks;
	bool cache_on;
	bool merging;
	struct cow_md_slots freeing;
	struct cow_md_slots committing;
	struct cow_md_slots grace;
	bool uncommitted;
	u64 changes;
	u64 packed_changes;
	bool needs_check;
	bool hydrating;
	DECLARE_HASHTABLE(nodes, 10);
	struct list_head lru;
	u64 nr_nodes;
	u64 nr_lru;
	u64 nr_dirty;
	u64 max_leaves;
};

/* Something changed that the next commit records (@lock held, or at load). */
static void cow_md_changed(struct cow_md *md)
{
	md->uncommitted = true;
	md->changes++;
}

/* Standard CRC-32C of a block whose csum field (at @csum_off) counts as 0. */
static u32 cow_block_csum(const void *block, size_t csum_off)
{
	static const u8 zero[4];
	u32 crc = ~0U;

	crc = crc32c(crc, block, csum_off);
	crc = crc32c(crc, zero, sizeof(zero));
	crc = crc32c(crc, block + csum_off + 4, COW_BLOCK_SIZE - csum_off - 4);
	return ~crc;
}

static bool cow_read_block(struct md_rdev *dirty, u64 blocknr, struct page *page)
{
	return sync_page_io(dirty, blocknr * COW_BLOCK_SECTORS, COW_BLOCK_SIZE,
			    page, REQ_OP_READ, false);
}

static bool cow_write_block(struct md_rdev *dirty, u64 blocknr,
			    struct page *page, blk_opf_t flags)
{
	return sync_page_io(dirty, blocknr * COW_BLOCK_SECTORS, COW_BLOCK_SIZE,
			    page, REQ_OP_WRITE | REQ_SYNC | flags, false);
}

/* c / COW_NODE_ENTRIES^n */
static u64 cow_div_pow(u64 c, unsigned int n)
{
	while (n--)
		c = div_u64(c, COW_NODE_ENTRIES);
	return c;
}

static unsigned int cow_mod(u64 c)
{
	u32 rem;

	div_u64_rem(c, COW_NODE_ENTRIES, &rem);
	return rem;
}

static u64 cow_ptr_block(u64 ptr)
{
	return ptr & COW_PTR_BLOCK_MASK;
}

static u64 cow_ptr_seq(u64 ptr)
{
	return ptr >> COW_PTR_SEQ_SHIFT;
}

static u64 cow_ptr_make(u64 block, u64 seq)
{
	return block | (seq & COW_PTR_SEQ_MASK) << COW_PTR_SEQ_SHIFT;
}

static u64 cow_slot_block(struct cow_md *md, u64 slot)
{
	return md->meta.data_start + slot * md->chunk_blocks;
}

/* The slot of a leaf entry that is not 0. */
static u64 cow_leaf_slot(u64 e)
{
	return (e & COW_LEAF_SLOT_MASK) - 1;
}

/* The missing sub-chunks of a leaf entry (format 2). */
static u16 cow_leaf_missing(u64 e)
{
	return e >> COW_LEAF_MISSING_SHIFT;
}

static u64 cow_leaf_make(u64 slot, u16 missing)
{
	return (slot + 1) | (u64)missing << COW_LEAF_MISSING_SHIFT;
}

/* A zero chunk's entry (format 2), which has no slot. */
static bool cow_leaf_is_zero(struct cow_md *md, u64 e)
{
	return e == COW_LEAF_ZERO && READ_ONCE(md->meta.format) >= 2;
}

/* A clean chunk's entry (clean_ok), which has a slot. */
static bool cow_leaf_is_clean(struct cow_md *md, u64 e)
{
	return cow_leaf_missing(e) == COW_LEAF_CLEAN &&
	       READ_ONCE(md->meta.clean_ok) && !cow_leaf_is_zero(md, e);
}

/* Sectors per sub-chunk of a format and chunk size; 0: none. */
static unsigned int cow_sub_sectors_for(unsigned int format,
					unsigned int chunk_sectors)
{
	return format >= 2 && chunk_sectors >= COW_SUBCHUNK_MIN_CHUNK ?
	       chunk_sectors / COW_SUBCHUNKS : 0;
}

u16 cow_md_subchunks(struct cow_md *md, u64 chunk)
{
	const struct cow_meta *cm = &md->meta;
	unsigned int sub = READ_ONCE(cm->sub_sectors);
	sector_t left;

	if (!sub)
		return 0;
	left = cm->array_sectors - chunk * cm->chunk_sectors;
	if (left >= cm->chunk_sectors)
		return 0xffff;
	return (1U << DIV_ROUND_UP((unsigned int)left, sub)) - 1;
}

/*
 * Validate one superblock copy.  Returns 0 or a negative errno; @why is set
 * to a short reason for the log.
 */
static int cow_sb_check(const struct cow_sb_disk *sb, u64 blocknr,
			const char **why)
{
	if (le32_to_cpu(sb->magic) != COW_SB_MAGIC) {
		*why = "bad magic";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->csum) !=
	    cow_block_csum(sb, offsetof(struct cow_sb_disk, csum))) {
		*why = "checksum mismatch";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->blocknr) != blocknr) {
		*why = "wrong block number (misdirected write?)";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->version) != COW_VERSION) {
		*why = "unknown format version";
		return -EOPNOTSUPP;
	}
	return 0;
}

static int cow_sb_unpack(struct cow_md *md, const struct cow_sb_disk *sb)
{
	struct cow_meta *cm = &md->meta;
	u64 incompat = le64_to_cpu(sb->incompat);
	u64 ro_compat = le64_to_cpu(sb->ro_compat);
	u64 flags = le64_to_cpu(sb->flags);
	u32 chunk = le32_to_cpu(sb->chunk_sectors);
	const char *name = md->name;
	u64 max_chunks;

	if (memcmp(sb->array_uuid, md->uuid, sizeof(sb->array_uuid))) {
		pr_warn("md/cow:%s: cow metadata belongs to array %pU, not %pU\n",
			name, sb->array_uuid, md->uuid);
		return -ENODEV;
	}
	if (incompat & ~COW_FEATURE_INCOMPAT_SUPP) {
		pr_warn("md/cow:%s: unsupported incompat features 0x%llx\n",
			name, incompat & ~COW_FEATURE_INCOMPAT_SUPP);
		return -EOPNOTSUPP;
	}
	cm->read_only = ro_compat & ~COW_FEATURE_RO_COMPAT_SUPP;
	if (cm->read_only)
		pr_warn("md/cow:%s: unknown ro_compat features 0x%llx, starting read-only\n",
			name, ro_compat & ~COW_FEATURE_RO_COMPAT_SUPP);

	if (chunk < COW_MIN_CHUNK_SECTORS || chunk > COW_MAX_CHUNK_SECTORS ||
	    !is_power_of_2(chunk)) {
		pr_warn("md/cow:%s: invalid chunk size %u sectors in cow superblock\n",
			name, chunk);
		return -EUCLEAN;
	}
	cm->format = incompat & COW_FEATURE_INCOMPAT_SUBCHUNK ? 2 : 1;
	cm->clean_ok = incompat & COW_FEATURE_INCOMPAT_CLEAN;
	md->cache_on = flags & COW_SB_F_CACHE;
	md->merging = flags & COW_SB_F_MERGE;
	if (md->merging && (flags & COW_SB_F_NO_ORIGIN)) {
		pr_warn("md/cow:%s: merge flag without an origin in cow superblock\n",
			name);
		return -EUCLEAN;
	}
	if (cm->clean_ok && cm->format < 2) {
		pr_warn("md/cow:%s: clean chunks without format 2 in cow superblock\n",
			name);
		return -EUCLEAN;
	}
	if (md->cache_on &&
	    (!cm->clean_ok || (flags & COW_SB_F_NO_ORIGIN))) {
		pr_warn("md/cow:%s: copy-on-read flag without clean chunks or without an origin\n",
			name);
		return -EUCLEAN;
	}
	cm->sub_sectors = cow_sub_sectors_for(cm->format, chunk);
	cm->needs_check = flags & COW_SB_F_NEEDS_CHECK;
	cm->has_origin = !(flags & COW_SB_F_NO_ORIGIN);
	cm->array_sectors = le64_to_cpu(sb->array_sectors);
	cm->chunk_sectors = chunk;
	cm->origin_sectors = le64_to_cpu(sb->origin_sectors);
	cm->origin_fp = le32_to_cpu(sb->origin_fp);
	cm->origin_fp_method = le32_to_cpu(sb->origin_fp_method);
	memcpy(cm->origin_locator, sb->origin_locator, COW_LOCATOR_LEN);
	cm->origin_locator[COW_LOCATOR_MAX] = '\0';
	cm->data_start = le64_to_cpu(sb->data_start);
	cm->nr_chunks = DIV_ROUND_UP_ULL(cm->array_sectors, chunk);

	md->chunk_blocks = chunk / COW_BLOCK_SECTORS;
	md->unit_slots = md->chunk_blocks >= 2 ? 1 : 2;
	md->unit_pairs = md->chunk_blocks >= 2 ? md->chunk_blocks / 2 : 1;
	md->seq = le64_to_cpu(sb->seq);
	md->root = le64_to_cpu(sb->map_root);
	md->root_seq = le64_to_cpu(sb->map_root_seq);
	md->depth = le32_to_cpu(sb->map_depth);
	md->alloc_next = le64_to_cpu(sb->alloc_next);
	md->meta_unit = le64_to_cpu(sb->meta_unit);
	md->meta_used = le32_to_cpu(sb->meta_used);
	md->meta_blocks = le64_to_cpu(sb->meta_blocks);
	md->mapped_chunks = le64_to_cpu(sb->mapped_chunks);

	if (!cm->array_sectors || cm->array_sectors & (COW_BLOCK_SECTORS - 1)) {
		pr_warn("md/cow:%s: invalid array size %llu sectors in cow superblock\n",
			name, (unsigned long long)cm->array_sectors);
		return -EUCLEAN;
	}
	if (cm->has_origin && cm->origin_sectors != cm->array_sectors) {
		pr_warn("md/cow:%s: array size %llu differs from origin size %llu\n",
			name, (unsigned long long)cm->array_sectors,
			(unsigned long long)cm->origin_sectors);
		return -EUCLEAN;
	}
	if (cm->data_start < COW_MIN_DATA_START ||
	    cm->data_start & (md->chunk_blocks - 1)) {
		pr_warn("md/cow:%s: invalid data start block %llu\n",
			name, cm->data_start);
		return -EUCLEAN;
	}
	if (!md->depth && !md->root) {
		/* Fresh metadata: the shallowest tree that covers the array. */
		for (md->depth = 1, max_chunks = COW_NODE_ENTRIES;
		     max_chunks < cm->nr_chunks; md->depth++)
			max_chunks *= COW_NODE_ENTRIES;
	}
	if (md->depth < 1 || md->depth > COW_MAX_DEPTH ||
	    cow_div_pow(cm->nr_chunks - 1, md->depth)) {
		pr_warn("md/cow:%s: invalid map depth %u\n", name, md->depth);
		return -EUCLEAN;
	}
	if (md->root & ~COW_PTR_BLOCK_MASK) {
		pr_warn("md/cow:%s: invalid map root %llu\n", name, md->root);
		return -EUCLEAN;
	}
	/*
	 * New node pairs go into meta_unit: it must be a whole unit of
	 * allocated slots (the walk checks it holds no chunk data).
	 */
	if (md->meta_unit &&
	    (md->meta_unit < cm->data_start ||
	     (md->meta_unit - cm->data_start) & (md->chunk_blocks - 1) ||
	     div_u64(md->meta_unit - cm->data_start, md->chunk_blocks) +
	     md->unit_slots > md->alloc_next ||
	     md->meta_used > md->unit_pairs)) {
		pr_warn("md/cow:%s: invalid metadata unit %llu/%llu\n",
			name, md->meta_unit, md->meta_used);
		return -EUCLEAN;
	}
	return 0;
}

/* The slot of a metadata unit holding @pair; -EUCLEAN if it cannot hold one. */
static int cow_pair_slot(struct cow_md *md, u64 pair, u64 alloc_next, u64 *slot)
{
	u64 first = md->meta.data_start;

	if (pair < first || pair + 2 > cow_slot_block(md, alloc_next))
		return -EUCLEAN;
	/*
	 * Pairs sit at even offsets of a metadata unit, which starts a slot:
	 * with more than one block per chunk, at even offsets of the slot.
	 */
	if (md->chunk_blocks > 1 && ((pair - first) & 1))
		return -EUCLEAN;
	*slot = div_u64(pair - first, md->chunk_blocks);
	/* Both copies in one slot, or (4 KiB chunks) in two adjacent slots. */
	if (div_u64(pair + 1 - first, md->chunk_blocks) !=
	    *slot + !!(md->chunk_blocks == 1))
		return -EUCLEAN;
	return 0;
}

/*
 * Check the entries of a node copy that passed its checksum: they become
 * disk addresses, so none may point outside what the superblock allows.
 * Once the array runs (@md->live) the node must also agree with the mapped
 * bitmap and must not name a metadata slot as data.  Called with io_mutex
 * held (or during open).  Returns NULL or what is wrong.
 */
static const char *cow_node_check(struct cow_md *md,
				  const struct cow_node_disk *d,
				  unsigned int level, u64 index)
{
	u64 limit = cow_div_pow(md->meta.nr_chunks - 1, level) + 1;
	u64 first = index * COW_NODE_ENTRIES;
	bool live = md->live;
	u64 alloc_next, slot;
	int i;

	spin_lock(&md->lock);
	alloc_next = md->alloc_next;
	spin_unlock(&md->lock);
	if (le32_to_cpu(d->pad))
		return "reserved field set";
	for (i = 0; i < COW_NODE_ENTRIES; i++) {
		u64 e = le64_to_cpu(d->entries[i]), child = first + i;

		if (!e) {
			if (live && !level && child < limit &&
			    test_bit(child, md->mapped))
				return "no entry for a mapped chunk";
			continue;
		}
		if (child >= limit)
			return "entry beyond the end of the array";
		if (level) {
			if (cow_pair_slot(md, cow_ptr_block(e), alloc_next, &slot))
				return "child pointer out of range or unaligned";
			if (live && !test_bit(slot, md->meta_slots))
				return "child pointer into a data slot";
			continue;
		}
		if (!(e & COW_LEAF_SLOT_MASK))
			return "leaf entry without a slot";
		if (cow_leaf_is_zero(md, e)) {
			if (live && !test_bit(child, md->mapped))
				return "entry for a chunk that is not mapped";
			continue;
		}
		if (cow_leaf_is_clean(md, e)) {
			if (!md->meta.has_origin)
				return "clean chunk in an array without origin";
			if (live && !test_bit(child, md->clean))
				return "clean entry for a chunk not known clean";
		} else if (live && md->clean && test_bit(child, md->clean)) {
			return "chunk known clean has an entry that is not";
		} else if (cow_leaf_missing(e)) {
			u16 exist = cow_md_subchunks(md, child);

			if (!exist)
				return "reserved bits set in a leaf entry";
			if (cow_leaf_missing(e) & ~exist)
				return "missing sub-chunks past the end of the array";
			if (cow_leaf_missing(e) == exist)
				return "mapped chunk with no sub-chunk in its slot";
		}
		if (cow_leaf_slot(e) >= alloc_next)
			return "slot beyond the allocated ones";
		if (live && test_bit(cow_leaf_slot(e), md->meta_slots))
			return "slot of a metadata unit given as chunk data";
		if (live && !test_bit(child, md->mapped))
			return "entry for a chunk that is not mapped";
	}
	return NULL;
}

static int cow_sb_load(struct cow_md *md)
{
	struct page *page[2];
	const char *why[2] = { "unreadable", "unreadable" };
	int err[2], use, i, ret;

	page[0] = alloc_page(GFP_KERNEL);
	page[1] = alloc_page(GFP_KERNEL);
	if (!page[0] || !page[1]) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < 2; i++) {
		u64 blocknr = i ? COW_SB_BLOCK_B : COW_SB_BLOCK_A;

		if (!cow_read_block(md->dirty, blocknr, page[i]))
			err[i] = -EIO;
		else
			err[i] = cow_sb_check(page_address(page[i]), blocknr,
					      &why[i]);
	}
	if (err[0] && err[1]) {
		pr_warn("md/cow:%s: no valid cow superblock on %pg (copy A: %s, copy B: %s)\n",
			md->name, md->dirty->bdev, why[0], why[1]);
		ret = (err[0] == -EIO && err[1] == -EIO) ? -EIO :
		      (err[0] == -EOPNOTSUPP || err[1] == -EOPNOTSUPP) ?
		      -EOPNOTSUPP : -EUCLEAN;
		goto out_free;
	}
	if (err[0])
		use = 1;
	else if (err[1])
		use = 0;
	else
		use = le64_to_cpu(((struct cow_sb_disk *)page_address(page[1]))->seq) >
		      le64_to_cpu(((struct cow_sb_disk *)page_address(page[0]))->seq);

	ret = cow_sb_unpack(md, page_address(page[use]));
	if (ret)
		goto out_free;
	if (err[!use])
		pr_warn("md/cow:%s: cow superblock copy %c is invalid (%s), using copy %c (seq %llu); if the damaged copy was newer, the array is back at the previous commit\n",
			md->name, use ? 'A' : 'B', why[!use], use ? 'B' : 'A',
			md->seq);
	md->sb_copy = use;
	md->sb_page = page[use];
	page[use] = NULL;
out_free:
	if (page[1])
		__free_page(page[1]);
	if (page[0])
		__free_page(page[0]);
	return ret;
}

/* ---- map nodes ---- */

static struct cow_node *__cow_node_find(struct cow_md *md, unsigned int level,
					u64 index)
{
	struct cow_node *n;

	lockdep_assert_held(&md->lock);
	hash_for_each_possible(md->nodes, n, hnode, index * COW_MAX_DEPTH + level)
		if (n->index == index && n->level == level)
			return n;
	return NULL;
}

static bool cow_node_evictable(struct cow_md *md, struct cow_node *n)
{
	return n->level == 0 && md->depth > 1 && !n->dirty && !n->writing;
}

static void __cow_node_add(struct cow_md *md, struct cow_node *n)
{
	lockdep_assert_held(&md->lock);
	hash_add(md->nodes, &n->hnode, n->index * COW_MAX_DEPTH + n->level);
	md->nr_nodes++;
	if (cow_node_evictable(md, n)) {
		list_add_tail(&n->lru, &md->lru);
		md->nr_lru++;
	}
	if (n->dirty)
		md->nr_dirty++;
}

static void __cow_node_dirty(struct cow_md *md, struct cow_node *n)
{
	lockdep_assert_held(&md->lock);
	if (!n->dirty) {
		n->dirty = true;
		md->nr_dirty++;
		if (!list_empty(&n->lru)) {
			list_del_init(&n->lru);
			md->nr_lru--;
		}
	}
	cow_md_changed(md);
}

static struct cow_node *cow_node_alloc(gfp_t gfp)
{
	struct cow_node *n;

	if (cow_fail_alloc())
		return NULL;
	n = kzalloc(sizeof(*n), gfp);
	if (!n)
		return NULL;
	n->ent = kcalloc(COW_NODE_ENTRIES, sizeof(*n->ent), gfp);
	if (!n->ent) {
		kfree(n);
		return NULL;
	}
	INIT_LIST_HEAD(&n->lru);
	return n;
}

static void cow_node_free(struct cow_node *n)
{
	if (!n)
		return;
	kfree(n->ent);
	kfree(n);
}

static void cow_cache_trim(struct cow_md *md)
{
	struct cow_node *n;

	spin_lock(&md->lock);
	while (md->nr_lru > md->max_leaves) {
		n = list_first_entry(&md->lru, struct cow_node, lru);
		list_del_init(&n->lru);
		hash_del(&n->hnode);
		md->nr_lru--;
		md->nr_nodes--;
		cow_node_free(n);
	}
	spin_unlock(&md->lock);
}

/*
 * Read a node pair and keep the copy in force: valid, written by the commit
 * its parent names (@want_seq, low bits), not newer than the committed
 * superblock, and with entries that make sense (cow_node_check()).
 * Returns 0, -ENOMEM, -EUCLEAN when both copies were read and neither is
 * usable (damage), or -EIO when no usable copy was found and a copy could
 * not be read (an I/O error is not evidence of damage).
 */
static int cow_node_read(struct cow_md *md, u64 pair, u64 want_seq,
			 unsigned int level, u64 index, struct cow_node *n)
{
	const struct cow_node_disk *d;
	struct page *page;
	const char *why[2] = { "unreadable", "unreadable" }, *bad;
	u64 best_seq = 0;
	int copy, best = -1, unreadable = 0, i;

	page = cow_fail_alloc() ? NULL : alloc_page(GFP_NOIO);
	if (!page)
		return -ENOMEM;
	d = page_address(page);
	for (copy = 0; copy < 2; copy++) {
		u64 seq;

		if (!cow_read_block(md->dirty, pair + copy, page)) {
			unreadable++;
			continue;
		}
		if (le32_to_cpu(d->magic) != COW_NODE_MAGIC ||
		    le32_to_cpu(d->csum) !=
		    cow_block_csum(d, offsetof(struct cow_node_disk, csum))) {
			why[copy] = "bad magic or checksum";
			continue;
		}
		seq = le64_to_cpu(d->seq);
		if (le64_to_cpu(d->blocknr) != pair + copy ||
		    le32_to_cpu(d->level) != level ||
		    le64_to_cpu(d->index) != index) {
			why[copy] = "misplaced node (wrong block, level or index)";
			continue;
		}
		if ((seq & COW_PTR_SEQ_MASK) != want_seq) {
			why[copy] = "not from the expected commit (stale or lost write?)";
			continue;
		}
		if (seq > md->seq) {
			why[copy] = "newer than the superblock";
			continue;
		}
		if (best >= 0 && seq <= best_seq)
			continue;
		bad = cow_node_check(md, d, level, index);
		if (bad) {
			why[copy] = bad;
			continue;
		}
		best = copy;
		best_seq = seq;
		n->index = index;
		n->level = level;
		n->pair = pair;
		n->committed = copy;
		n->dirty = false;
		for (i = 0; i < COW_NODE_ENTRIES; i++)
			n->ent[i] = le64_to_cpu(d->entries[i]);
	}
	__free_page(page);
	if (best < 0 && unreadable) {
		pr_err("md/cow:%s: cannot read map node at block %llu (level %u, index %llu): I/O error\n",
		       md->name, pair, level, index);
		return -EIO;
	}
	if (best < 0) {
		pr_err("md/cow:%s: map node at block %llu (level %u, index %llu) is damaged: copy 0: %s; copy 1: %s\n",
		       md->name, pair, level, index, why[0], why[1]);
		return -EUCLEAN;
	}
	INIT_LIST_HEAD(&n->lru);
	return 0;
}

/*
 * Metadata damage found while running: remember it in the superblock (the
 * next commit writes the flag; cow_check --clear-needs-check clears it)
 * and have the array refuse writes from now on.
 */
static void cow_md_set_needs_check(struct cow_md *md)
{
	bool first;

	spin_lock(&md->lock);
	first = !md->needs_check;
	md->needs_check = true;
	cow_md_changed(md);
	spin_unlock(&md->lock);
	if (first)
		pr_err("md/cow:%s: cow metadata is damaged: needs_check set, writes are refused; stop the array and run cow_check\n",
		       md->name);
}

bool cow_md_needs_check(struct cow_md *md)
{
	return READ_ONCE(md->needs_check);
}

/*
 * Take @n adjacent slots: free ones below alloc_next (lowest first), else
 * from alloc_next.  @lock held.
 */
static int __cow_take_slots(struct cow_md *md, unsigned int n, u64 *slot)
{
	u64 s;

	lockdep_assert_held(&md->lock);
	if (md->nr_free >= n) {
		if (n == 1)
			s = find_next_zero_bit(md->slot_busy, md->alloc_next,
					       md->free_hint);
		else
			s = bitmap_find_next_zero_area(md->slot_busy,
						       md->alloc_next,
						       md->free_hint, n, 0);
		if (s + n <= md->alloc_next) {
			if (n == 1)
				md->free_hint = s + 1;
			md->nr_free -= n;
			goto out;
		}
	}
	if (md->alloc_next + n > md->total_slots)
		return -ENOSPC;
	s = md->alloc_next;
	md->alloc_next += n;
out:
	bitmap_set(md->slot_busy, s, n);
	*slot = s;
	return 0;
}

/* Give back @slot, never used or unused now; @lock held. */
static void __cow_put_slot(struct cow_md *md, u64 slot)
{
	lockdep_assert_held(&md->lock);
	clear_bit(slot, md->slot_busy);
	if (slot + 1 == md->alloc_next) {
		md->alloc_next--;
	} else {
		md->nr_free++;
		md->free_hint = min(md->free_hint, slot);
	}
}

/* Take a node pair from the metadata unit, opening a new unit if needed. */
static int __cow_alloc_pair(struct cow_md *md, u64 *pair)
{
	u64 slot;

	lockdep_assert_held(&md->lock);
	if (!md->meta_unit || md->meta_used >= md->unit_pairs) {
		if (__cow_take_slots(md, md->unit_slots, &slot))
			return -ENOSPC;
		md->meta_unit = cow_slot_block(md, slot);
		bitmap_set(md->meta_slots, slot, md->unit_slots);
		md->meta_blocks += (u64)md->unit_slots * md->chunk_blocks;
		md->meta_used = 0;
	}
	*pair = md->meta_unit + 2 * md->meta_used++;
	cow_md_changed(md);
	return 0;
}

/*
 * Find, load or create the node at @level covering @chunk; @parent is the
 * node above it (NULL for the root).  Called with io_mutex held.
 */
static struct cow_node *cow_node_get(struct cow_md *md, unsigned int level,
				     u64 chunk, struct cow_node *parent,
				     bool create)
{
	u64 index = cow_div_pow(chunk, level + 1);
	unsigned int pos = parent ? cow_mod(index) : 0;
	struct cow_node *n;
	u64 pair, want_seq;
	int err;

	lockdep_assert_held(&md->io_mutex);
	spin_lock(&md->lock);
	n = __cow_node_find(md, level, index);
	pair = parent ? cow_ptr_block(parent->ent[pos]) : md->root;
	want_seq = parent ? cow_ptr_seq(parent->ent[pos]) :
			    md->root_seq & COW_PTR_SEQ_MASK;
	spin_unlock(&md->lock);
	if (n)
		return n;
	if (!pair && !create)
		return ERR_PTR(-ENOENT);

	n = cow_node_alloc(GFP_NOIO);
	if (!n)
		return ERR_PTR(-ENOMEM);
	if (pair) {
		err = cow_node_read(md, pair, want_seq, level, index, n);
		if (err) {
			cow_node_free(n);
			if (err == -EUCLEAN)
				cow_md_set_needs_check(md);
			return ERR_PTR(err);
		}
		spin_lock(&md->lock);
		__cow_node_add(md, n);
		spin_unlock(&md->lock);
		cow_cache_trim(md);
		return n;
	}

	n->index = index;
	n->level = level;
	n->committed = -1;
	n->dirty = true;
	spin_lock(&md->lock);
	err = __cow_alloc_pair(md, &n->pair);
	if (err) {
		spin_unlock(&md->lock);
		cow_node_free(n);
		return ERR_PTR(err);
	}
	if (parent) {
		parent->ent[pos] = cow_ptr_make(n->pair, 0);
		__cow_node_dirty(md, parent);
	} else {
		md->root = n->pair;
	}
	__cow_node_add(md, n);
	cow_md_changed(md);
	spin_unlock(&md->lock);
	return n;
}

/* Walk from the root to the leaf of @chunk; io_mutex held. */
static struct cow_node *cow_leaf_get(struct cow_md *md, u64 chunk, bool create)
{
	struct cow_node *n = NULL;
	int level;

	for (level = md->depth - 1; level >= 0; level--) {
		n = cow_node_get(md, level, chunk, n, create);
		if (IS_ERR(n))
			return n;
	}
	return n;
}

bool cow_md_is_mapped(struct cow_md *md, u64 chunk)
{
	return test_bit(chunk, md->mapped);
}

int cow_md_lookup(struct cow_md *md, u64 chunk, u64 *slot, u16 *missing)
{
	struct cow_node *leaf;
	int ret = -EAGAIN;
	u64 e;

	spin_lock(&md->lock);
	leaf = __cow_node_find(md, 0, cow_div_pow(chunk, 1));
	if (leaf) {
		/* Loaded leaves were checked; an empty entry is still damage. */
		e = leaf->ent[cow_mod(chunk)];
		*slot = cow_leaf_is_zero(md, e) ? COW_MD_SLOT_ZERO :
						  cow_leaf_slot(e);
		*missing = cow_leaf_missing(e);
		if (!list_empty(&leaf->lru))
			list_move_tail(&leaf->lru, &md->lru);
		ret = 0;
		if (!e)	/* unmapped meanwhile, or damage */
			ret = test_bit(chunk, md->mapped) ? -EUCLEAN : -ENOENT;
	}
	spin_unlock(&md->lock);
	if (ret == -EUCLEAN) {
		pr_err_ratelimited("md/cow:%s: chunk %llu is mapped but its map entry is empty\n",
				   md->name, chunk);
		cow_md_set_needs_check(md);
	}
	return ret;
}

int cow_md_lookup_slow(struct cow_md *md, u64 chunk, u64 *slot, u16 *missing)
{
	struct cow_node *leaf;
	int ret;

	ret = cow_md_lookup(md, chunk, slot, missing);
	if (ret != -EAGAIN)
		return ret;
	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, false);
	if (IS_ERR(leaf))
		ret = PTR_ERR(leaf) == -ENOENT ? -EUCLEAN : PTR_ERR(leaf);
	else
		ret = cow_md_lookup(md, chunk, slot, missing);
	mutex_unlock(&md->io_mutex);
	return ret;
}

/*
 * Whether one more insert (taking @data slots, 0 or 1) may start: room
 * must stay for the node pairs that every insert in flight, this one
 * included, may have to create (a new path from the root at worst), so
 * that no insert fails for lack of space after its data was written.
 * Units of two slots (4 KiB chunks) are counted from alloc_next only:
 * free slots need not be adjacent.  @lock held.
 */
static bool __cow_room_for_insert(struct cow_md *md, unsigned int data)
{
	u64 need, have, reserve, top = md->total_slots - md->alloc_next;

	lockdep_assert_held(&md->lock);
	need = (md->inflight + 1) * md->depth;
	have = md->meta_unit ? md->unit_pairs - md->meta_used : 0;
	reserve = need > have ?
		  DIV_ROUND_UP(need - have, md->unit_pairs) * md->unit_slots : 0;
	if (md->unit_slots == 1)
		return md->nr_free + top >= reserve + data;
	return top >= reserve && (md->nr_free >= data || top >= reserve + data);
}

int cow_md_alloc_slot(struct cow_md *md, u64 *slot)
{
	int ret = -ENOSPC;

	spin_lock(&md->lock);
	if (__cow_room_for_insert(md, 1) && !__cow_take_slots(md, 1, slot)) {
		md->inflight++;
		cow_md_changed(md);
		ret = 0;
	}
	spin_unlock(&md->lock);
	return ret;
}

void cow_md_free_slot(struct cow_md *md, u64 slot)
{
	spin_lock(&md->lock);
	md->inflight--;
	__cow_put_slot(md, slot);
	spin_unlock(&md->lock);
}

sector_t cow_md_slot_sector(struct cow_md *md, u64 slot)
{
	return cow_slot_block(md, slot) * COW_BLOCK_SECTORS;
}

int cow_md_insert(struct cow_md *md, u64 chunk, u64 slot, u16 missing)
{
	struct cow_node *leaf;
	int ret = 0;
	u64 *e;

	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, true);
	if (IS_ERR(leaf)) {
		ret = PTR_ERR(leaf);
		goto out;
	}
	spin_lock(&md->lock);
	e = &leaf->ent[cow_mod(chunk)];
	if (cow_leaf_is_zero(md, *e)) {
		/* A zero chunk gets a slot (already counted as mapped). */
		md->zero_chunks--;
		md->mapped_chunks--;
		*e = 0;
	}
	if (*e) {
		/* Only on-disk inconsistency can get here (leaves are checked). */
		ret = -EUCLEAN;
	} else if (missing == COW_MD_CLEAN && !md->clean) {
		ret = -EINVAL;	/* a caller's bug: no clean chunks here */
	} else {
		*e = cow_leaf_make(slot, missing);
		__cow_node_dirty(md, leaf);
		md->inflight--;
		md->mapped_chunks++;
		if (missing == COW_MD_CLEAN) {
			set_bit(chunk, md->clean);
			md->clean_chunks++;
		} else if (missing) {
			md->partial_chunks++;
		}
		set_bit(chunk, md->mapped);
	}
	spin_unlock(&md->lock);
	if (ret == -EUCLEAN) {
		pr_err("md/cow:%s: chunk %llu is not mapped but its map entry is in use\n",
		       md->name, chunk);
		cow_md_set_needs_check(md);
	}
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

int cow_md_fill(struct cow_md *md, u64 chunk, u16 filled)
{
	struct cow_node *leaf;
	u64 *e;
	int ret = 0;

	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, false);
	if (IS_ERR(leaf)) {
		ret = PTR_ERR(leaf) == -ENOENT ? -EUCLEAN : PTR_ERR(leaf);
		goto out;
	}
	spin_lock(&md->lock);
	e = &leaf->ent[cow_mod(chunk)];
	if (!*e || cow_leaf_is_zero(md, *e)) {
		ret = -EUCLEAN;
	} else if (cow_leaf_is_clean(md, *e)) {
		;	/* all of it is in the slot */
	} else if (cow_leaf_missing(*e) & filled) {
		*e = cow_leaf_make(cow_leaf_slot(*e),
				   cow_leaf_missing(*e) & ~filled);
		if (!cow_leaf_missing(*e))
			md->partial_chunks--;
		__cow_node_dirty(md, leaf);
	}
	spin_unlock(&md->lock);
	if (ret == -EUCLEAN) {
		pr_err_ratelimited("md/cow:%s: chunk %llu is mapped but its map entry is empty\n",
				   md->name, chunk);
		cow_md_set_needs_check(md);
	}
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

/*
 * Make room for one more slot in @l; io_mutex held (every list is changed
 * under it), so the copy needs no other lock.  Returns false if memory is
 * short: the caller keeps the slot busy (free again after the next
 * assembly's map walk).
 */
static bool cow_slots_reserve(struct cow_md *md, struct cow_md_slots *l,
			      u64 more)
{
	u64 cap, *n;

	lockdep_assert_held(&md->io_mutex);
	if (l->nr + more <= l->cap)
		return true;
	cap = max3(l->cap * 2, l->nr + more, (u64)64);
	n = kvmalloc_array(cap, sizeof(*n), GFP_NOIO);
	if (!n)
		return false;
	if (l->nr)
		memcpy(n, l->slot, l->nr * sizeof(*n));
	kvfree(l->slot);
	l->slot = n;
	l->cap = cap;
	return true;
}

/*
 * @slot no longer holds the data of a chunk: it becomes free once the
 * commit that records this is durable and the I/O that may still use it
 * is done (cow_md_take_freed()).  io_mutex held.
 */
static void cow_slot_unmapped(struct cow_md *md, u64 slot)
{
	if (cow_slots_reserve(md, &md->freeing, 1)) {
		md->freeing.slot[md->freeing.nr++] = slot;
		return;
	}
	pr_warn_ratelimited("md/cow:%s: no memory to remember freed slot %llu: it is free again after the next assembly\n",
			    md->name, slot);
}

int cow_md_discard(struct cow_md *md, u64 chunk, u16 subs)
{
	u16 exist = cow_md_subchunks(md, chunk), missing;
	bool whole = (subs & exist) == exist;
	bool unmapped = false, freed = false;
	struct cow_node *leaf;
	u64 *e, slot = 0;
	int ret = 0;

	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, false);
	if (IS_ERR(leaf)) {
		ret = PTR_ERR(leaf) == -ENOENT ? 0 : PTR_ERR(leaf);
		goto out;
	}
	spin_lock(&md->lock);
	e = &leaf->ent[cow_mod(chunk)];
	if (!*e)
		goto out_unlock;
	if (cow_leaf_is_zero(md, *e)) {
		if (!whole)
			goto out_unlock;	/* part of a zero chunk: ignored */
		md->zero_chunks--;
		unmapped = true;
	} else if (cow_leaf_is_clean(md, *e)) {
		/* It reads as the origin: any discard unmaps it whole. */
		clear_bit(chunk, md->clean);
		md->clean_chunks--;
		slot = cow_leaf_slot(*e);
		unmapped = true;
		freed = true;
	} else {
		missing = cow_leaf_missing(*e);
		subs &= exist;
		if (!whole && (missing | subs) != exist) {
			if (!(subs & ~missing))
				goto out_unlock;
			if (!missing)
				md->partial_chunks++;
			*e = cow_leaf_make(cow_leaf_slot(*e), missing | subs);
		} else {
			if (missing)
				md->partial_chunks--;
			slot = cow_leaf_slot(*e);
			unmapped = true;
			freed = true;
		}
	}
	if (unmapped) {
		*e = 0;
		clear_bit(chunk, md->mapped);
		md->mapped_chunks--;
	}
	__cow_node_dirty(md, leaf);
	cow_md_changed(md);
out_unlock:
	spin_unlock(&md->lock);
	if (freed)
		cow_slot_unmapped(md, slot);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

int cow_md_zero(struct cow_md *md, u64 chunk)
{
	bool freed = false;
	struct cow_node *leaf;
	u64 *e, slot = 0;
	int ret = 0;

	/* Like an insert, it may need node pairs: count it as one. */
	spin_lock(&md->lock);
	if (!__cow_room_for_insert(md, 0)) {
		spin_unlock(&md->lock);
		return -ENOSPC;
	}
	md->inflight++;
	spin_unlock(&md->lock);

	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, true);
	if (IS_ERR(leaf)) {
		ret = PTR_ERR(leaf);
		goto out;
	}
	spin_lock(&md->lock);
	e = &leaf->ent[cow_mod(chunk)];
	if (cow_leaf_is_zero(md, *e))
		goto out_unlock;
	if (*e) {
		if (cow_leaf_is_clean(md, *e)) {
			clear_bit(chunk, md->clean);
			md->clean_chunks--;
		} else if (cow_leaf_missing(*e)) {
			md->partial_chunks--;
		}
		slot = cow_leaf_slot(*e);
		freed = true;
	} else if (test_bit(chunk, md->mapped)) {
		ret = -EUCLEAN;
		goto out_unlock;
	} else {
		md->mapped_chunks++;
		set_bit(chunk, md->mapped);
	}
	*e = COW_LEAF_ZERO;
	md->zero_chunks++;
	__cow_node_dirty(md, leaf);
	cow_md_changed(md);
out_unlock:
	spin_unlock(&md->lock);
	if (freed)
		cow_slot_unmapped(md, slot);
	if (ret == -EUCLEAN) {
		pr_err_ratelimited("md/cow:%s: chunk %llu is mapped but its map entry is empty\n",
				   md->name, chunk);
		cow_md_set_needs_check(md);
	}
out:
	spin_lock(&md->lock);
	md->inflight--;
	spin_unlock(&md->lock);
	mutex_unlock(&md->io_mutex);
	return ret;
}

/* Make the clean entry of @chunk ordinary (@evict false) or unmap it. */
static int cow_md_unclean(struct cow_md *md, u64 chunk, bool evict)
{
	struct cow_node *leaf;
	u64 *e, slot = 0;
	int ret = 0;

	if (!READ_ONCE(md->clean) || !test_bit(chunk, md->clean))
		return 0;
	mutex_lock(&md->io_mutex);
	leaf = cow_leaf_get(md, chunk, false);
	if (IS_ERR(leaf)) {
		ret = PTR_ERR(leaf) == -ENOENT ? 0 : PTR_ERR(leaf);
		goto out;
	}
	spin_lock(&md->lock);
	e = &leaf->ent[cow_mod(chunk)];
	if (*e && cow_leaf_is_clean(md, *e)) {
		slot = cow_leaf_slot(*e);
		clear_bit(chunk, md->clean);
		md->clean_chunks--;
		if (evict) {
			*e = 0;
			clear_bit(chunk, md->mapped);
			md->mapped_chunks--;
		} else {
			*e = cow_leaf_make(slot, 0);
		}
		__cow_node_dirty(md, leaf);
		cow_md_changed(md);
		ret = 1;
	}
	spin_unlock(&md->lock);
	if (ret && evict)
		cow_slot_unmapped(md, slot);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

int cow_md_evict(struct cow_md *md, u64 chunk)
{
	return cow_md_unclean(md, chunk, true);
}

int cow_md_keep(struct cow_md *md, u64 chunk)
{
	int ret = cow_md_unclean(md, chunk, false);

	return ret < 0 ? ret : 0;
}

u64 cow_md_next_clean(struct cow_md *md, u64 from)
{
	unsigned long *clean = READ_ONCE(md->clean);

	if (!clean || from >= md->meta.nr_chunks)
		return md->meta.nr_chunks;
	return find_next_bit(clean, md->meta.nr_chunks, from);
}

static unsigned long *cow_bitmap_alloc(u64 bits);

int cow_md_set_cache(struct cow_md *md, bool on)
{
	unsigned long *clean = NULL;
	int ret = 0;

	mutex_lock(&md->io_mutex);
	if (md->failed || (on && (md->meta.format < 2 || !md->meta.has_origin))) {
		ret = -EINVAL;
		goto out;
	}
	if (on && !md->clean) {
		clean = cow_bitmap_alloc(md->meta.nr_chunks);
		if (!clean) {
			ret = -ENOMEM;
			goto out;
		}
	}
	spin_lock(&md->lock);
	if (clean) {
		WRITE_ONCE(md->clean, clean);
		WRITE_ONCE(md->meta.clean_ok, true);
	}
	if (md->cache_on != on) {
		WRITE_ONCE(md->cache_on, on);
		cow_md_changed(md);
	}
	spin_unlock(&md->lock);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

bool cow_md_cache(struct cow_md *md)
{
	return READ_ONCE(md->cache_on);
}

u64 cow_md_take_freed(struct cow_md *md, struct cow_md_slots *freed)
{
	mutex_lock(&md->io_mutex);
	*freed = md->grace;
	memset(&md->grace, 0, sizeof(md->grace));
	mutex_unlock(&md->io_mutex);
	return freed->nr;
}

void cow_md_release_freed(struct cow_md *md, struct cow_md_slots *freed)
{
	u64 i;

	spin_lock(&md->lock);
	for (i = 0; i < freed->nr; i++)
		__cow_put_slot(md, freed->slot[i]);
	spin_unlock(&md->lock);
	kvfree(freed->slot);
	memset(freed, 0, sizeof(*freed));
}

/* The commit in progress is durable: what it unmapped enters its grace. */
static void cow_commit_freed(struct cow_md *md)
{
	struct cow_md_slots *c = &md->committing;

	lockdep_assert_held(&md->io_mutex);
	if (!c->nr)
		return;
	if (!md->grace.nr) {
		swap(md->grace, *c);
	} else if (cow_slots_reserve(md, &md->grace, c->nr)) {
		memcpy(md->grace.slot + md->grace.nr, c->slot,
		       c->nr * sizeof(*c->slot));
		md->grace.nr += c->nr;
	} else {
		pr_warn_ratelimited("md/cow:%s: no memory to remember %llu freed slots: they are free again after the next assembly\n",
				    md->name, c->nr);
	}
	c->nr = 0;
}

int cow_md_set_format(struct cow_md *md, unsigned int format)
{
	int ret = 0;

	mutex_lock(&md->io_mutex);
	if (format == md->meta.format)
		goto out;
	if (format != 2 || md->failed) {
		ret = -EINVAL;
		goto out;
	}
	spin_lock(&md->lock);
	WRITE_ONCE(md->meta.format, 2);
	WRITE_ONCE(md->meta.sub_sectors,
		   cow_sub_sectors_for(2, md->meta.chunk_sectors));
	cow_md_changed(md);
	spin_unlock(&md->lock);
	pr_info("md/cow:%s: cow format 2 (sub-chunk validity) from the next commit on\n",
		md->name);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

int cow_md_detach(struct cow_md *md)
{
	int ret = 0;

	mutex_lock(&md->io_mutex);
	if (md->failed) {
		ret = -EIO;
		goto out;
	}
	spin_lock(&md->lock);
	if (md->mapped_chunks != md->meta.nr_chunks || md->partial_chunks ||
	    md->clean_chunks || md->inflight || md->merging) {
		ret = -EBUSY;
	} else if (md->meta.has_origin) {
		WRITE_ONCE(md->meta.has_origin, false);
		WRITE_ONCE(md->cache_on, false);
		cow_md_changed(md);
	}
	spin_unlock(&md->lock);
	if (!ret)
		pr_info("md/cow:%s: every chunk is in the dirty device: no origin from the next commit on\n",
			md->name);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

bool cow_md_hydrating(struct cow_md *md)
{
	return READ_ONCE(md->hydrating);
}

void cow_md_set_hydrating(struct cow_md *md, bool on)
{
	spin_lock(&md->lock);
	if (md->hydrating != on) {
		WRITE_ONCE(md->hydrating, on);
		cow_md_changed(md);
	}
	spin_unlock(&md->lock);
}

bool cow_md_merging(struct cow_md *md)
{
	return READ_ONCE(md->merging);
}

int cow_md_set_merging(struct cow_md *md, bool on, u32 fp)
{
	struct cow_sb_disk *sb = page_address(md->sb_page);
	int ret = 0;

	mutex_lock(&md->io_mutex);
	if (md->failed || !md->meta.has_origin) {
		ret = -EINVAL;
		goto out;
	}
	spin_lock(&md->lock);
	if (!on) {
		/* The committed image is what the next commit starts from. */
		sb->origin_fp = cpu_to_le32(fp);
		md->meta.origin_fp = fp;
	}
	WRITE_ONCE(md->merging, on);
	cow_md_changed(md);
	spin_unlock(&md->lock);
out:
	mutex_unlock(&md->io_mutex);
	return ret;
}

bool cow_md_wants_commit(struct cow_md *md)
{
	return READ_ONCE(md->nr_dirty) > md->max_leaves / 2;
}

static void cow_node_pack(struct cow_node *n, struct cow_node_disk *d,
			  u64 blocknr, u64 seq)
{
	int i;

	memset(d, 0, COW_BLOCK_SIZE);
	d->magic = cpu_to_le32(COW_NODE_MAGIC);
	d->blocknr = cpu_to_le64(blocknr);
	d->seq = cpu_to_le64(seq);
	d->index = cpu_to_le64(n->index);
	d->level = cpu_to_le32(n->level);
	for (i = 0; i < COW_NODE_ENTRIES; i++)
		d->entries[i] = cpu_to_le64(n->ent[i]);
	d->csum = cpu_to_le32(cow_block_csum(d, offsetof(struct cow_node_disk, csum)));
}

/*
 * Pack the superblock a commit writes.  What it records is committed once
 * the write completes; @packed_changes says how much that is, so a slot
 * allocated after this keeps @uncommitted set when the commit ends.
 */
static void cow_sb_pack(struct cow_md *md, struct cow_sb_disk *sb,
			u64 blocknr, u64 seq)
{
	memcpy(sb, page_address(md->sb_page), COW_BLOCK_SIZE);
	sb->blocknr = cpu_to_le64(blocknr);
	sb->seq = cpu_to_le64(seq);
	sb->utime = cpu_to_le64(ktime_get_real_seconds());
	spin_lock(&md->lock);
	sb->dirty_blocks = cpu_to_le64(cow_slot_block(md, md->total_slots));
	sb->map_root = cpu_to_le64(md->root);
	sb->map_root_seq = cpu_to_le64(md->root_seq);
	sb->map_depth = cpu_to_le32(md->depth);
	sb->meta_used = cpu_to_le32(md->meta_used);
	sb->alloc_next = cpu_to_le64(md->alloc_next);
	sb->mapped_chunks = cpu_to_le64(md->mapped_chunks);
	sb->meta_blocks = cpu_to_le64(md->meta_blocks);
	sb->meta_unit = cpu_to_le64(md->meta_unit);
	/*
	 * An upgrade counts from the first commit that packs after it: the
	 * nodes packed before it hold no format 2 entry.
	 */
	if (md->meta.format >= 2)
		sb->incompat |= cpu_to_le64(COW_FEATURE_INCOMPAT_SUBCHUNK);
	if (md->meta.clean_ok)
		sb->incompat |= cpu_to_le64(COW_FEATURE_INCOMPAT_CLEAN);
	if (md->cache_on && md->meta.has_origin)
		sb->flags |= cpu_to_le64(COW_SB_F_CACHE);
	else
		sb->flags &= ~cpu_to_le64(COW_SB_F_CACHE);
	if (!md->meta.has_origin) {
		/* detached (cow_md_detach()), or never had one */
		sb->flags |= cpu_to_le64(COW_SB_F_NO_ORIGIN);
		sb->origin_sectors = 0;
		sb->origin_fp = 0;
		sb->origin_fp_method = 0;
		memset(sb->origin_locator, 0, sizeof(sb->origin_locator));
	}
	if (md->needs_check)
		sb->flags |= cpu_to_le64(COW_SB_F_NEEDS_CHECK);
	if (md->hydrating)
		sb->flags |= cpu_to_le64(COW_SB_F_HYDRATE);
	else
		sb->flags &= ~cpu_to_le64(COW_SB_F_HYDRATE);
	if (md->merging)
		sb->flags |= cpu_to_le64(COW_SB_F_MERGE);
	else
		sb->flags &= ~cpu_to_le64(COW_SB_F_MERGE);
	md->packed_changes = md->changes;
	spin_unlock(&md->lock);
	sb->csum = cpu_to_le32(cow_block_csum(sb, offsetof(struct cow_sb_disk, csum)));
}

/*
 * Point every parent of a changed node at the copy this commit writes
 * (which makes the parent changed too), level by level up to the root.
 */
static void cow_commit_propagate(struct cow_md *md, u64 seq)
{
	unsigned int level, bkt;
	struct cow_node *n, *parent;

	spin_lock(&md->lock);
	for (level = 0; level + 1 < md->depth; level++) {
		hash_for_each(md->nodes, bkt, n, hnode) {
			if (n->level != level || !n->dirty)
				continue;
			parent = __cow_node_find(md, level + 1,
						 div_u64(n->index, COW_NODE_ENTRIES));
			if (WARN_ON_ONCE(!parent))
				continue;
			parent->ent[cow_mod(n->index)] = cow_ptr_make(n->pair, seq);
			__cow_node_dirty(md, parent);
		}
	}
	n = __cow_node_find(md, md->depth - 1, 0);
	if (n && n->dirty)
		md->root_seq = seq;
	spin_unlock(&md->lock);
}

/*
 * The first commit after assembly: rewrite the committed superblock with
 * seq + 1 into the other copy before any node is written.  An interrupted
 * commit can have left node copies carrying seq + 1 (never more: a commit
 * starts only after the previous superblock is durable); without this step
 * the next commit would reuse that seq, and a lost write of a node would be
 * masked by the leftover copy, which passes the parent's seq test.  With it,
 * every seq this assembly writes is above anything on disk.
 */
static int cow_commit_seq_fresh(struct cow_md *md, struct page *page)
{
	struct cow_sb_disk *sb = page_address(page);
	unsigned int other = !md->sb_copy;
	u64 blocknr = other ? COW_SB_BLOCK_B : COW_SB_BLOCK_A;

	lockdep_assert_held(&md->io_mutex);
	memcpy(sb, page_address(md->sb_page), COW_BLOCK_SIZE);
	sb->blocknr = cpu_to_le64(blocknr);
	sb->seq = cpu_to_le64(md->seq + 1);
	sb->csum = cpu_to_le32(cow_block_csum(sb, offsetof(struct cow_sb_disk, csum)));
	if (!cow_write_block(md->dirty, blocknr, page, REQ_FUA))
		return -EIO;
	memcpy(page_address(md->sb_page), sb, COW_BLOCK_SIZE);
	md->sb_copy = other;
	spin_lock(&md->lock);
	md->seq++;
	spin_unlock(&md->lock);
	md->seq_fresh = true;
	return 0;
}

/* Completion of a batch of commit writes. */
struct cow_commit_wait {
	atomic_t pending;
	blk_status_t status;
	struct completion done;
};

static void cow_commit_endio(struct bio *bio)
{
	struct cow_commit_wait *w = bio->bi_private;

	if (bio->bi_status)
		WRITE_ONCE(w->status, bio->bi_status);
	if (atomic_dec_and_test(&w->pending))
		complete(&w->done);
}

/*
 * Write the first @nr buffers of @md->commit_io to @blocknr[i] at once and
 * wait for all of them.  Returns false if any failed.
 */
static bool cow_commit_write_batch(struct cow_md *md, const u64 *blocknr,
				   unsigned int nr)
{
	struct cow_commit_wait w = { .status = BLK_STS_OK };
	struct md_rdev *rdev = md->dirty;
	struct blk_plug plug;
	unsigned int i;

	atomic_set(&w.pending, nr);
	init_completion(&w.done);
	blk_start_plug(&plug);
	for (i = 0; i < nr; i++) {
		struct cow_commit_io *io = &md->commit_io[i];

		bio_init(&io->bio, rdev->bdev, &io->bvec, 1,
			 REQ_OP_WRITE | REQ_SYNC);
		io->bio.bi_iter.bi_sector = rdev->data_offset +
					    blocknr[i] * COW_BLOCK_SECTORS;
		__bio_add_page(&io->bio, io->page, COW_BLOCK_SIZE, 0);
		io->bio.bi_private = &w;
		io->bio.bi_end_io = cow_commit_endio;
		submit_bio(&io->bio);
	}
	blk_finish_plug(&plug);
	wait_for_completion_io(&w.done);
	for (i = 0; i < nr; i++)
		bio_uninit(&md->commit_io[i].bio);
	return w.status == BLK_STS_OK;
}

/*
 * Write every changed node to its free copy, COW_COMMIT_BATCH at a time,
 * and mark it as being written (clean, not evictable).  io_mutex held.
 */
static int cow_commit_nodes(struct cow_md *md, u64 seq)
{
	u64 blocknr[COW_COMMIT_BATCH];
	unsigned int bkt, nr = 0;
	struct cow_node *n;

	lockdep_assert_held(&md->io_mutex);
	/* Nodes change only under io_mutex, which we hold. */
	hash_for_each(md->nodes, bkt, n, hnode) {
		if (!n->dirty)
			continue;
		blocknr[nr] = n->pair + (n->committed == 0 ? 1 : 0);
		cow_node_pack(n, page_address(md->commit_io[nr].page),
			      blocknr[nr], seq);
		spin_lock(&md->lock);
		n->dirty = false;
		n->writing = true;
		md->nr_dirty--;
		spin_unlock(&md->lock);
		if (++nr < COW_COMMIT_BATCH)
			continue;
		if (!cow_commit_write_batch(md, blocknr, nr))
			return -EIO;
		nr = 0;
	}
	if (nr && !cow_commit_write_batch(md, blocknr, nr))
		return -EIO;
	return 0;
}

int cow_md_commit(struct cow_md *md)
{
	struct page *page = md->commit_io[0].page;
	struct cow_node *n;
	unsigned int bkt, other;
	u64 seq, blocknr;
	int ret = 0;

	mutex_lock(&md->commit_mutex);
	mutex_lock(&md->io_mutex);
	if (md->failed) {
		ret = -EIO;
		goto out_unlock;
	}
	spin_lock(&md->lock);
	if (!md->uncommitted) {
		spin_unlock(&md->lock);
		goto out_unlock;
	}
	spin_unlock(&md->lock);
	if (!md->seq_fresh) {
		ret = cow_commit_seq_fresh(md, page);
		if (ret)
			goto out_fail;
	}
	seq = md->seq + 1;

	cow_commit_propagate(md, seq);
	ret = cow_commit_nodes(md, seq);
	if (ret)
		goto out_fail;
	/*
	 * The superblock describes the map as written; changes made from now
	 * on wait for the next commit.  Only the flush and the superblock
	 * write remain, and map changes need not wait for them: io_mutex is
	 * dropped.  @uncommitted stays set until the superblock is durable.
	 */
	other = !md->sb_copy;
	blocknr = other ? COW_SB_BLOCK_B : COW_SB_BLOCK_A;
	cow_sb_pack(md, page_address(page), blocknr, seq);
	/* Slots unmapped so far are free once this commit is durable. */
	WARN_ON_ONCE(md->committing.nr);
	swap(md->freeing, md->committing);
	mutex_unlock(&md->io_mutex);

	/* Data and nodes must be durable before the superblock points at them. */
	ret = blkdev_issue_flush(md->dirty->bdev);
	if (!ret && !cow_write_block(md->dirty, blocknr, page, REQ_FUA))
		ret = -EIO;
	mutex_lock(&md->io_mutex);
	if (ret)
		goto out_fail;
	memcpy(page_address(md->sb_page), page_address(page), COW_BLOCK_SIZE);
	md->sb_copy = other;
	cow_commit_freed(md);

	spin_lock(&md->lock);
	md->seq = seq;
	hash_for_each(md->nodes, bkt, n, hnode) {
		if (!n->writing)
			continue;
		n->writing = false;
		n->committed = n->committed == 0 ? 1 : 0;
		if (cow_node_evictable(md, n)) {
			list_add_tail(&n->lru, &md->lru);
			md->nr_lru++;
		}
	}
	/* Changes since the superblock was packed need another commit. */
	md->uncommitted = md->changes != md->packed_changes;
	spin_unlock(&md->lock);
	cow_cache_trim(md);
	mutex_unlock(&md->io_mutex);
	mutex_unlock(&md->commit_mutex);
	return 1;

out_fail:
	md->failed = true;
	pr_err("md/cow:%s: cannot commit cow metadata (%d); the array stops accepting writes\n",
	       md->name, ret);
out_unlock:
	mutex_unlock(&md->io_mutex);
	mutex_unlock(&md->commit_mutex);
	return ret;
}

/*
 * Slots that @dirty_sectors of md's data area hold.  The caller (md's
 * resize) has already checked the size against the device.
 */
static u64 cow_slots_for(struct cow_md *md, sector_t dirty_sectors)
{
	u64 blocks = dirty_sectors / COW_BLOCK_SECTORS;

	if (blocks <= md->meta.data_start)
		return 0;
	return div_u64(blocks - md->meta.data_start, md->chunk_blocks);
}

static unsigned long *cow_bitmap_alloc(u64 bits)
{
	unsigned int noio = memalloc_noio_save();
	unsigned long *bm = NULL;

	/* kvmalloc warns above INT_MAX bytes: refuse such sizes instead. */
	if (BITS_TO_LONGS(bits) <= INT_MAX / sizeof(unsigned long))
		bm = kvcalloc(BITS_TO_LONGS(bits), sizeof(unsigned long),
			      GFP_KERNEL);
	memalloc_noio_restore(noio);
	return bm;
}

int cow_md_resize(struct cow_md *md, sector_t dirty_sectors, u64 *old_slots)
{
	u64 slots = cow_slots_for(md, dirty_sectors);
	unsigned long *bm = NULL, *busy = NULL;
	int ret = 0;

	if (slots > md->meta_bits) {
		bm = cow_bitmap_alloc(slots);
		busy = cow_bitmap_alloc(slots);
		if (!bm || !busy) {
			kvfree(bm);
			kvfree(busy);
			return -ENOMEM;
		}
	}
	mutex_lock(&md->io_mutex);
	spin_lock(&md->lock);
	*old_slots = md->total_slots;
	if (slots < md->alloc_next) {
		ret = -EINVAL;
	} else if (slots != md->total_slots) {
		if (bm && slots > md->meta_bits) {
			bitmap_copy(bm, md->meta_slots, md->meta_bits);
			bitmap_copy(busy, md->slot_busy, md->meta_bits);
			swap(bm, md->meta_slots);
			swap(busy, md->slot_busy);
			md->meta_bits = slots;
		}
		md->total_slots = slots;
		cow_md_changed(md);
	}
	spin_unlock(&md->lock);
	mutex_unlock(&md->io_mutex);
	kvfree(bm);
	kvfree(busy);
	return ret;
}

void cow_md_get_stats(struct cow_md *md, struct cow_md_stats *st)
{
	spin_lock(&md->lock);
	st->seq = md->seq;
	st->mapped_chunks = md->mapped_chunks;
	st->partial_chunks = md->partial_chunks;
	st->used_slots = md->alloc_next - md->nr_free;
	st->alloc_next = md->alloc_next;
	st->zero_chunks = md->zero_chunks;
	st->clean_chunks = md->clean_chunks;
	st->freed_slots = READ_ONCE(md->freeing.nr) +
			  READ_ONCE(md->committing.nr) + READ_ONCE(md->grace.nr);
	st->total_slots = md->total_slots;
	st->meta_blocks = md->meta_blocks;
	st->cached_nodes = md->nr_nodes;
	st->uncommitted = md->uncommitted;
	spin_unlock(&md->lock);
}

const struct cow_meta *cow_md_meta(struct cow_md *md)
{
	return &md->meta;
}

/* ---- open: check the whole map and build the mapped bitmap ---- */

struct cow_walk {
	unsigned long *data_slots;	/* slots holding chunk data */
	unsigned long *pair_blocks;	/* 4 KiB chunks: blocks of node pairs */
	u64 mapped;			/* (md->meta_slots: node pairs) */
};

static int cow_walk_pair_ok(struct cow_md *md, struct cow_walk *w, u64 pair,
			    unsigned int level, u64 index)
{
	u64 slot;

	if (cow_pair_slot(md, pair, md->alloc_next, &slot)) {
		pr_err("md/cow:%s: map node pointer %llu (level %u, index %llu) is out of range or unaligned\n",
		       md->name, pair, level, index);
		return -EUCLEAN;
	}
	/*
	 * With 4 KiB chunks a pair may start at any block of its unit; two
	 * pairs must still not share one (even offsets are checked above).
	 */
	if (w->pair_blocks && (test_and_set_bit(slot, w->pair_blocks) ||
			       test_and_set_bit(slot + 1, w->pair_blocks))) {
		pr_err("md/cow:%s: map node pair %llu (level %u, index %llu) overlaps another pair\n",
		       md->name, pair, level, index);
		return -EUCLEAN;
	}
	/*
	 * Pairs of the unit being filled sit at meta_unit + 2k, k below
	 * meta_used: the next new pair would overwrite any other one.
	 */
	if (md->meta_unit && pair >= md->meta_unit &&
	    pair < md->meta_unit + 2 * md->unit_pairs &&
	    ((pair - md->meta_unit) & 1 ||
	     (pair - md->meta_unit) >> 1 >= md->meta_used)) {
		pr_err("md/cow:%s: map node pair %llu is not one of the %llu used pairs of metadata unit %llu\n",
		       md->name, pair, md->meta_used, md->meta_unit);
		return -EUCLEAN;
	}
	set_bit(slot, md->meta_slots);
	if (md->chunk_blocks == 1)
		set_bit(slot + 1, md->meta_slots);
	return 0;
}

static int cow_walk_node(struct cow_md *md, struct cow_walk *w, u64 ptr,
			 unsigned int level, u64 index)
{
	u64 pair = cow_ptr_block(ptr);
	struct cow_node *n;
	int i, err;

	err = cow_walk_pair_ok(md, w, pair, level, index);
	if (err)
		return err;
	n = cow_node_alloc(GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	err = cow_node_read(md, pair, cow_ptr_seq(ptr), level, index, n);
	if (err)
		goto out_free;

	for (i = 0; i < COW_NODE_ENTRIES; i++) {
		u64 e = n->ent[i], child = index * COW_NODE_ENTRIES + i;

		if (!e)
			continue;
		if (level) {
			err = cow_walk_node(md, w, e, level - 1, child);
			if (err)
				goto out_free;
			continue;
		}
		if (cow_leaf_is_zero(md, e)) {
			set_bit(child, md->mapped);
			w->mapped++;
			md->zero_chunks++;
			continue;
		}
		/* cow_node_read() checked the entry's range. */
		if (test_and_set_bit(cow_leaf_slot(e), w->data_slots)) {
			pr_err("md/cow:%s: slot %llu is mapped twice (chunk %llu)\n",
			       md->name, cow_leaf_slot(e), child);
			err = -EUCLEAN;
			goto out_free;
		}
		set_bit(child, md->mapped);
		w->mapped++;
		if (cow_leaf_is_clean(md, e)) {
			set_bit(child, md->clean);
			md->clean_chunks++;
		} else if (cow_leaf_missing(e)) {
			md->partial_chunks++;
		}
	}

	spin_lock(&md->lock);
	if (level || md->depth == 1 || md->nr_lru < md->max_leaves) {
		__cow_node_add(md, n);
		n = NULL;
	}
	spin_unlock(&md->lock);
out_free:
	cow_node_free(n);
	return err;
}

/*
 * A commit records alloc_next, which counts slots handed to first writes
 * still in flight; after a crash those slots hold nothing.  The ones at
 * the top of the allocated range are free again: alloc_next is lowered
 * in memory and marked uncommitted, so the first commit of a read-write
 * array records it even if no write maps anything.  Leaks below a used
 * slot stay (cow_check reports them, cow_repair reclaims them).
 */
static void cow_trim_alloc(struct cow_md *md, u64 used)
{
	if (used >= md->alloc_next)
		return;
	pr_info("md/cow:%s: %llu slot(s) allocated to writes a crash interrupted are free again\n",
		md->name, md->alloc_next - used);
	md->alloc_next = used;
	cow_md_changed(md);
}

/* Slots in use by the map walked into @w: one past the highest. */
static u64 cow_walk_used(struct cow_md *md, struct cow_walk *w)
{
	u64 used = 0, last;

	last = find_last_bit(w->data_slots, md->alloc_next);
	if (last < md->alloc_next)
		used = last + 1;
	last = find_last_bit(md->meta_slots, md->alloc_next);
	if (last < md->alloc_next)
		used = max(used, last + 1);
	if (md->meta_unit)
		used = max(used, div_u64(md->meta_unit - md->meta.data_start,
					 md->chunk_blocks) + md->unit_slots);
	return used;
}

static int cow_walk_map(struct cow_md *md)
{
	struct cow_walk w = { };
	u64 unit_slot = 0;
	int err = 0;

	if (md->meta_unit) {
		unit_slot = div_u64(md->meta_unit - md->meta.data_start,
				    md->chunk_blocks);
		bitmap_set(md->meta_slots, unit_slot, md->unit_slots);
	}
	if (!md->root) {
		if (md->mapped_chunks || md->meta_unit) {
			pr_err("md/cow:%s: empty map but %llu mapped chunks recorded\n",
			       md->name, md->mapped_chunks);
			return -EUCLEAN;
		}
		cow_trim_alloc(md, 0);
		return 0;
	}
	w.data_slots = cow_bitmap_alloc(md->alloc_next + 1);
	if (!w.data_slots)
		return -ENOMEM;
	if (md->chunk_blocks == 1) {
		w.pair_blocks = cow_bitmap_alloc(md->alloc_next + 1);
		if (!w.pair_blocks) {
			err = -ENOMEM;
			goto out_free;
		}
	}
	err = cow_walk_node(md, &w, cow_ptr_make(md->root, md->root_seq),
			    md->depth - 1, 0);
	if (err)
		goto out_free;
	if (w.mapped != md->mapped_chunks) {
		pr_err("md/cow:%s: map holds %llu chunks, superblock says %llu\n",
		       md->name, w.mapped, md->mapped_chunks);
		err = -EUCLEAN;
		goto out_free;
	}
	if (bitmap_intersects(w.data_slots, md->meta_slots, md->alloc_next)) {
		pr_err("md/cow:%s: a slot holds both chunk data and map nodes\n",
		       md->name);
		err = -EUCLEAN;
		goto out_free;
	}
	cow_trim_alloc(md, cow_walk_used(md, &w));
	/*
	 * Format 2: what holds neither data nor nodes is free.  Format 1
	 * keeps such slots (leaks) out of use.
	 */
	if (md->meta.format >= 2)
		bitmap_or(md->slot_busy, w.data_slots, md->meta_slots,
			  md->alloc_next);
	else
		bitmap_set(md->slot_busy, 0, md->alloc_next);
	md->nr_free = md->alloc_next -
		      bitmap_weight(md->slot_busy, md->alloc_next);
	if (md->nr_free)
		pr_info("md/cow:%s: %llu free slot(s) below the highest one in use\n",
			md->name, md->nr_free);
out_free:
	kvfree(w.pair_blocks);
	kvfree(w.data_slots);
	return err;
}

static void cow_md_free_nodes(struct cow_md *md)
{
	struct hlist_node *tmp;
	struct cow_node *n;
	unsigned int bkt;

	hash_for_each_safe(md->nodes, bkt, tmp, n, hnode) {
		hash_del(&n->hnode);
		cow_node_free(n);
	}
}

struct cow_md *cow_md_open(struct md_rdev *dirty, sector_t dirty_sectors,
			   const u8 *uuid, const char *name,
			   unsigned int cache_leaves)
{
	struct cow_md *md;
	int err, i;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md)
		return ERR_PTR(-ENOMEM);
	md->dirty = dirty;
	strscpy(md->name, name, sizeof(md->name));
	memcpy(md->uuid, uuid, sizeof(md->uuid));
	mutex_init(&md->commit_mutex);
	mutex_init(&md->io_mutex);
	spin_lock_init(&md->lock);
	hash_init(md->nodes);
	INIT_LIST_HEAD(&md->lru);
	md->max_leaves = max_t(unsigned int, cache_leaves, COW_MIN_CACHED_LEAVES);

	md->commit_io = kcalloc(COW_COMMIT_BATCH, sizeof(*md->commit_io),
				GFP_KERNEL);
	if (!md->commit_io) {
		err = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < COW_COMMIT_BATCH; i++) {
		md->commit_io[i].page = alloc_page(GFP_KERNEL);
		if (!md->commit_io[i].page) {
			err = -ENOMEM;
			goto out_free;
		}
	}
	err = cow_sb_load(md);
	if (err)
		goto out_free;
	md->total_slots = cow_slots_for(md, dirty_sectors);
	md->needs_check = md->meta.needs_check;
	md->hydrating = le64_to_cpu(((struct cow_sb_disk *)
				     page_address(md->sb_page))->flags) &
		COW_SB_F_HYDRATE;
	if (md->alloc_next > md->total_slots) {
		/*
		 * A crash during online growth can leave md's superblock with
		 * the old size while a commit already allocated in the new
		 * space: the cow superblock records the size its commit used.
		 * Take that size if the device really is that large.
		 */
		const struct cow_sb_disk *sb = page_address(md->sb_page);
		sector_t rec = le64_to_cpu(sb->dirty_blocks) * COW_BLOCK_SECTORS;
		sector_t dev = bdev_nr_sectors(dirty->bdev) - dirty->data_offset;

		if (rec <= dev && cow_slots_for(md, rec) >= md->alloc_next) {
			pr_warn("md/cow:%s: md records %llu sectors for dirty device %pg, the cow superblock %llu (growth interrupted by a crash?): using %llu; run mdadm --grow --size=max\n",
				name, (u64)dirty_sectors, dirty->bdev, (u64)rec,
				(u64)rec);
			md->total_slots = cow_slots_for(md, rec);
		}
	}
	if (md->alloc_next > md->total_slots) {
		pr_err("md/cow:%s: dirty device %pg is smaller than its allocated chunks (%llu > %llu slots)\n",
		       name, dirty->bdev, md->alloc_next, md->total_slots);
		err = -ENOSPC;
		goto out_free;
	}
	md->meta_bits = md->total_slots;
	md->mapped = cow_bitmap_alloc(md->meta.nr_chunks);
	md->meta_slots = cow_bitmap_alloc(md->meta_bits);
	md->slot_busy = cow_bitmap_alloc(md->meta_bits);
	if (md->meta.clean_ok)
		md->clean = cow_bitmap_alloc(md->meta.nr_chunks);
	if (!md->mapped || !md->meta_slots || !md->slot_busy ||
	    (md->meta.clean_ok && !md->clean)) {
		pr_err("md/cow:%s: not enough memory for the chunk bitmaps (%llu chunks, %llu slots)\n",
		       name, md->meta.nr_chunks, md->meta_bits);
		err = -ENOMEM;
		goto out_free;
	}
	err = cow_walk_map(md);
	if (err)
		goto out_free;
	md->live = true;
	return md;

out_free:
	cow_md_close(md);
	return ERR_PTR(err);
}

void cow_md_close(struct cow_md *md)
{
	int i;

	cow_md_free_nodes(md);
	kvfree(md->freeing.slot);
	kvfree(md->committing.slot);
	kvfree(md->grace.slot);
	kvfree(md->slot_busy);
	kvfree(md->meta_slots);
	kvfree(md->mapped);
	kvfree(md->clean);
	if (md->commit_io) {
		for (i = 0; i < COW_COMMIT_BATCH; i++)
			if (md->commit_io[i].page)
				__free_page(md->commit_io[i].page);
		kfree(md->commit_io);
	}
	if (md->sb_page)
		__free_page(md->sb_page);
	kfree(md);
}

int cow_handoff_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		     dev_t *origin)
{
	struct cow_handoff_disk *h;
	struct page *page;
	int ret = 0;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	if (!cow_read_block(dirty, COW_HANDOFF_BLOCK, page)) {
		pr_warn("md/cow:%s: cannot read the origin handoff block\n", name);
		ret = -EIO;
		goto out_free;
	}
	h = page_address(page);
	if (le32_to_cpu(h->magic) != COW_HANDOFF_MAGIC ||
	    le32_to_cpu(h->csum) !=
	    cow_block_csum(h, offsetof(struct cow_handoff_disk, csum)) ||
	    le64_to_cpu(h->blocknr) != COW_HANDOFF_BLOCK ||
	    le32_to_cpu(h->version) != COW_VERSION) {
		pr_warn("md/cow:%s: origin handoff block is missing or damaged; assemble the array with mdadm\n",
			name);
		ret = -EUCLEAN;
		goto out_free;
	}
	if (memcmp(h->array_uuid, uuid, sizeof(h->array_uuid))) {
		pr_warn("md/cow:%s: origin handoff block belongs to array %pU\n",
			name, h->array_uuid);
		ret = -ENODEV;
		goto out_free;
	}
	*origin = MKDEV(le32_to_cpu(h->origin_major), le32_to_cpu(h->origin_minor));
out_free:
	__free_page(page);
	return ret;
}

/* Block (4 KiB units) of fingerprint sample @i out of COW_FP_SAMPLES. */
static u64 cow_fp_sample_block(u64 nblocks, unsigned int i)
{
	return div_u64((nblocks - 1) * i, COW_FP_SAMPLES - 1);
}

static int cow_read_origin_block(struct block_device *bdev, u64 blocknr,
				 struct page *page)
{
	struct bio_vec bvec;
	struct bio bio;
	int ret;

	bio_init(&bio, bdev, &bvec, 1, REQ_OP_READ);
	bio.bi_iter.bi_sector = blocknr * COW_BLOCK_SECTORS;
	__bio_add_page(&bio, page, COW_BLOCK_SIZE, 0);
	ret = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return ret;
}

int cow_origin_fingerprint(struct block_device *origin, u32 *fp)
{
	sector_t size = bdev_nr_sectors(origin);
	__le64 size_le = cpu_to_le64(size);
	u64 nblocks = size / COW_BLOCK_SECTORS;
	struct page *page;
	unsigned int i;
	u32 crc = ~0U;
	int ret = 0;

	if (!nblocks)
		return -EINVAL;
	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	crc = crc32c(crc, &size_le, sizeof(size_le));
	for (i = 0; i < COW_FP_SAMPLES; i++) {
		ret = cow_read_origin_block(origin, cow_fp_sample_block(nblocks, i),
					    page);
		if (ret)
			goto out_free;
		crc = crc32c(crc, page_address(page), COW_BLOCK_SIZE);
	}
	*fp = ~crc;
out_free:
	__free_page(page);
	return ret;
}

int cow_origin_size_ok(struct block_device *origin, const struct cow_meta *cm,
		       const char *name)
{
	sector_t size = bdev_nr_sectors(origin);

	if (size != cm->origin_sectors) {
		pr_warn("md/cow:%s: %pg is not the origin: size %llu sectors, expected %llu\n",
			name, origin, (unsigned long long)size,
			(unsigned long long)cm->origin_sectors);
		return -EINVAL;
	}
	return 0;
}

int cow_origin_verify(struct block_device *origin, const struct cow_meta *cm,
		      const char *name)
{
	u32 fp;
	int ret;

	ret = cow_origin_size_ok(origin, cm, name);
	if (ret)
		return ret;
	if (cm->origin_fp_method != COW_FP_METHOD_SAMPLES16) {
		pr_warn("md/cow:%s: unknown origin fingerprint method %u\n",
			name, cm->origin_fp_method);
		return -EOPNOTSUPP;
	}
	ret = cow_origin_fingerprint(origin, &fp);
	if (ret) {
		pr_warn("md/cow:%s: cannot read origin %pg (%d)\n",
			name, origin, ret);
		return ret;
	}
	if (fp != cm->origin_fp) {
		pr_warn("md/cow:%s: %pg is not the origin: fingerprint %08x, expected %08x\n",
			name, origin, fp, cm->origin_fp);
		return -EINVAL;
	}
	return 0;
}
