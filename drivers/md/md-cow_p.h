/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow_p.h - on-disk format of the md "cow" personality.
 *
 * Only md-cow-metadata.c includes this file: it is the one place in the
 * kernel that knows how cow metadata is laid out.  The same layout is
 * described field by field in Documentation/admin-guide/md-cow.rst and is
 * implemented independently by the mdadm patch series and by the C++ tools.
 *
 * All multi-byte fields are little-endian.  Block numbers ("blocknr") are in
 * units of COW_BLOCK_SIZE bytes, counted from the start of md's data area on
 * the dirty device (rdev->data_offset), so the md v1.2 superblock in front
 * of the data area is never touched by cow code.
 *
 * Layout of the dirty device's data area:
 *
 *   block 0   cow superblock, copy A
 *   block 1   cow superblock, copy B (copies alternate; the valid copy with
 *             the higher seq wins)
 *   block 2   handoff block: the origin's device number, for a kernel
 *             without md-cow's "origin" module parameter, written by mdadm
 *             before an assembly; never written by the kernel
 *   block 3.. reserved up to sb.data_start (zero on write)
 *   data_start..  chunk and mapping storage (format version 1 defines the
 *             area; its use is described by the mapping fields)
 */
#ifndef _MD_COW_P_H
#define _MD_COW_P_H

#include <linux/bits.h>
#include <linux/types.h>

#define COW_BLOCK_SIZE		4096	/* bytes per metadata block */
#define COW_BLOCK_SECTORS	(COW_BLOCK_SIZE >> 9)

#define COW_SB_MAGIC		0x21776f63U	/* "cow!" as le32 */
#define COW_HANDOFF_MAGIC	0x68776f63U	/* "cowh" as le32 */
#define COW_VERSION		1

#define COW_SB_BLOCK_A		0
#define COW_SB_BLOCK_B		1
#define COW_HANDOFF_BLOCK	2
#define COW_MIN_DATA_START	16	/* blocks: 64 KiB of header */

#define COW_MIN_CHUNK_SECTORS	8	/* 4 KiB */
#define COW_MAX_CHUNK_SECTORS	2048	/* 1 MiB */

/* sb.flags */
#define COW_SB_F_NO_ORIGIN	BIT_ULL(0)	/* unwritten chunks read as zeros */
#define COW_SB_F_NEEDS_CHECK	BIT_ULL(1)	/* metadata damage seen: run cow_check */
#define COW_SB_F_HYDRATE	BIT_ULL(2)	/* hydration asked for, not finished */
#define COW_SB_F_CACHE		BIT_ULL(3)	/* copy-on-read: reads keep clean copies */
/*
 * A merge of the dirty device into the origin is under way: the origin is
 * being written.  Meanwhile its size is checked at assembly, not its
 * fingerprint (it is part old, part new), and the array claims it for
 * writing, exclusively.  The commit that clears the flag records the
 * origin's new fingerprint.
 */
#define COW_SB_F_MERGE		BIT_ULL(4)

/*
 * Feature bits.  A kernel that finds an unknown incompat bit refuses the
 * array; an unknown ro_compat bit makes it start read-only; unknown compat
 * bits are ignored.  "Format 2" is version 1 with the SUBCHUNK bit: leaf
 * entries also say which sub-chunks of a mapped chunk hold data (see the
 * chunk map below).  Nothing else in the layout changes, so a format 1
 * array becomes format 2 by setting the bit.  The CLEAN bit (only with
 * SUBCHUNK, set the first time copy-on-read is turned on) allows clean
 * chunks in the map.
 */
#define COW_FEATURE_INCOMPAT_SUBCHUNK	BIT_ULL(0)	/* format 2 */
#define COW_FEATURE_INCOMPAT_CLEAN	BIT_ULL(1)	/* clean chunks */
#define COW_FEATURE_COMPAT_SUPP		0ULL
#define COW_FEATURE_RO_COMPAT_SUPP	0ULL
#define COW_FEATURE_INCOMPAT_SUPP	(COW_FEATURE_INCOMPAT_SUBCHUNK | \
					 COW_FEATURE_INCOMPAT_CLEAN)

/* Origin fingerprint method 1: see cow_origin_fp_sample(). */
#define COW_FP_METHOD_SAMPLES16	1
#define COW_FP_SAMPLES		16

#define COW_LOCATOR_LEN		128

/*
 * struct cow_sb_disk - the cow superblock (one COW_BLOCK_SIZE block; bytes
 * after the struct are zero on write and covered by the checksum).
 */
struct cow_sb_disk {
	__le32 magic;		/* COW_SB_MAGIC */
	__le32 csum;		/* crc32c of the whole block, this field as 0 */
	__le64 blocknr;		/* this block's own number (0 or 1) */
	__le32 version;		/* COW_VERSION */
	__le32 sb_size;		/* bytes of this struct in use */
	__le64 seq;		/* commit sequence number, +1 per commit */
	__le64 compat;		/* COW_FEATURE_COMPAT_* */
	__le64 ro_compat;	/* COW_FEATURE_RO_COMPAT_* */
	__le64 incompat;	/* COW_FEATURE_INCOMPAT_* */
	__le64 flags;		/* COW_SB_F_* */
	__u8   array_uuid[16];	/* md array UUID (v1 sb set_uuid) */
	__le64 ctime;		/* seconds since the epoch, at create */
	__le64 utime;		/* seconds since the epoch, at last commit */

	/* geometry */
	__le64 array_sectors;	/* size of the cow array, 512 B sectors */
	__le32 chunk_sectors;	/* chunk size, 512 B sectors, power of 2 */
	__le32 pad0;		/* zero */

	/* origin identity (all zero with COW_SB_F_NO_ORIGIN) */
	__le64 origin_sectors;	/* origin size, 512 B sectors */
	__le32 origin_fp;	/* fingerprint of the origin (fp_method) */
	__le32 origin_fp_method; /* COW_FP_METHOD_* */
	__u8   origin_locator[COW_LOCATOR_LEN]; /* stable path, NUL padded */

	/* dirty data area */
	__le64 data_start;	/* first block of chunk storage */
	__le64 dirty_blocks;	/* blocks usable on the dirty device at commit */

	/* chunk map: a radix tree of node pairs, see struct cow_node_disk */
	__le64 map_root;	/* first block of the root pair, 0 = empty */
	__le32 map_depth;	/* levels of the tree, 0 = not yet built */
	__le32 meta_used;	/* node pairs used in meta_unit */
	__le64 alloc_next;	/* next never-used chunk slot */
	__le64 free_head;	/* 0 (free slots are found by a map walk) */
	__le64 mapped_chunks;	/* origin chunks with a dirty copy */
	__le64 meta_blocks;	/* blocks in metadata units, in total */
	__le64 meta_unit;	/* metadata unit being filled, 0 = none */
	__le64 map_root_seq;	/* seq of the commit that last wrote the root */
	__le64 reserved[14];	/* zero on write */
} __packed;

/*
 * The chunk map.  Chunk storage is divided into slots of one chunk each:
 * slot s covers blocks data_start + s * chunk_blocks onwards.  Slots are
 * handed out in order from alloc_next, either to hold a chunk's data or as
 * a metadata unit (one slot, or two when chunks are 4 KiB) that holds node
 * pairs.
 *
 * A node pair is two consecutive blocks, copy 0 and copy 1 of one tree
 * node; nodes never move.  A commit writes each changed node to the copy
 * that does not hold its committed content, with seq = the new superblock
 * seq, then flushes, then writes the superblock.  The valid copy with the
 * highest seq not above the superblock's seq is a node's content; a copy
 * with a higher seq is the debris of a commit that never completed.
 *
 * Leaves (level 0) hold one entry per origin chunk: 0 = never written
 * (read from the origin), else bits 0-47 are the slot + 1 and bits 48-63
 * are zero in format 1.  In format 2 (COW_FEATURE_INCOMPAT_SUBCHUNK) a
 * chunk of at least COW_SUBCHUNK_MIN_CHUNK sectors is made of
 * COW_SUBCHUNKS sub-chunks of chunk_sectors / COW_SUBCHUNKS sectors each,
 * and bit 48 + i set says that sub-chunk i is missing from the slot: it
 * still reads from the origin (or as zeros without one), and that part
 * of the slot holds nothing.  0 = the whole chunk is in the slot, as in
 * format 1.  Bits of sub-chunks past the end of the array, all 16 bits
 * at once, and any bit of a smaller chunk are invalid.  A bit is cleared
 * only by a commit that follows the sub-chunk's data write (the data is
 * durable first).  A discard may set bits again (the sub-chunks read from
 * the origin once more); when it would set all 16 the entry becomes 0.
 *
 * Format 2 also knows *zero chunks*: the entry COW_LEAF_ZERO (slot bits
 * all ones, no missing bits) says the chunk reads as zeros and has no slot
 * (a write-zeroes of the whole chunk).  In format 1, and with any missing
 * bit, that slot value is out of range like any other.  The superblock's
 * mapped_chunks counts every non-zero leaf entry, zero chunks and clean
 * chunks included.
 *
 * With COW_FEATURE_INCOMPAT_CLEAN (format 2, an array with an origin), an
 * entry with a slot and all 16 missing bits set (COW_LEAF_CLEAN, for any
 * chunk size and for the last chunk too) is a *clean chunk*: the whole
 * chunk is in the slot and equals the origin's content there (a read in
 * copy-on-read mode put it there).  It reads from the slot; it may be
 * unmapped at any time (its slot freed) without changing what the array
 * reads, and it is not written data (cow_delta leaves it out).  A write
 * to it maps the chunk to a new slot (as a first write) and frees the
 * clean one, so a crash before that commit finds the clean copy intact.
 *
 * Free slots: in format 2, slots below alloc_next that hold neither chunk
 * data nor map nodes are free (a discard or write-zeroes unmapped their
 * chunk, or a crash interrupted the write they were taken for); the
 * kernel finds them by walking the map at assembly and hands them out,
 * lowest first, before alloc_next grows.  A slot freed while the array
 * runs is handed out again only after the commit that unmapped it is
 * durable and every I/O that may still use it has completed.  In format
 * 1 such slots are leaked (cow_repair reclaims them).  free_head stays 0.
 *
 * Interior nodes hold, for each child, 0 (no child)
 * or the first block of the child's pair in bits 0-39 and the low 24 bits
 * of the seq of the commit that last wrote the child in bits 40-63; the
 * superblock holds the same for the root.  A node copy is used only if its
 * seq matches what its parent expects, so a damaged current copy is
 * reported instead of the older copy being served in its place.  A commit
 * therefore rewrites every ancestor of a changed node.  The node covering chunk c at level l has
 * index c / COW_NODE_ENTRIES^(l + 1); the root is the single node at level
 * map_depth - 1.
 */
#define COW_NODE_MAGIC		0x6e776f63U	/* "cown" as le32 */
#define COW_NODE_ENTRIES	507
#define COW_MAX_DEPTH		6
#define COW_LEAF_SLOT_MASK	GENMASK_ULL(47, 0)
#define COW_LEAF_MISSING_SHIFT	48
#define COW_LEAF_MISSING_MASK	GENMASK_ULL(63, 48)
#define COW_LEAF_ZERO		COW_LEAF_SLOT_MASK	/* format 2: zero chunk */
#define COW_LEAF_CLEAN		0xffffU	/* missing bits of a clean chunk */
#define COW_SUBCHUNKS		16
#define COW_SUBCHUNK_MIN_CHUNK	16	/* sectors: 8 KiB, 512 B sub-chunks */
#define COW_PTR_BLOCK_MASK	GENMASK_ULL(39, 0)
#define COW_PTR_SEQ_SHIFT	40
#define COW_PTR_SEQ_MASK	GENMASK_ULL(23, 0)

struct cow_node_disk {
	__le32 magic;		/* COW_NODE_MAGIC */
	__le32 csum;		/* crc32c of the whole block, this field as 0 */
	__le64 blocknr;		/* this copy's own block number */
	__le64 seq;		/* superblock seq of the commit that wrote it */
	__le64 index;		/* node index at its level */
	__le32 level;		/* 0 = leaf */
	__le32 pad;		/* zero */
	__le64 entries[COW_NODE_ENTRIES];
} __packed;

/*
 * struct cow_handoff_disk - written by mdadm (never by the kernel) before
 * an assembly when the kernel lacks the "origin" module parameter
 * (md-cow-handoff.c): which block device is the origin right now.  The kernel
 * opens that device read-only and checks it against the superblock's origin
 * identity, so a stale or wrong hint is refused, never used.
 */
struct cow_handoff_disk {
	__le32 magic;		/* COW_HANDOFF_MAGIC */
	__le32 csum;		/* crc32c of the whole block, this field as 0 */
	__le64 blocknr;		/* COW_HANDOFF_BLOCK */
	__le32 version;		/* COW_VERSION */
	__le32 pad0;		/* zero */
	__u8   array_uuid[16];	/* md array UUID */
	__le32 origin_major;	/* device number of the origin */
	__le32 origin_minor;
	__le64 origin_sectors;	/* origin size as mdadm saw it */
	__le64 utime;		/* seconds since the epoch */
} __packed;

#endif /* _MD_COW_P_H */
