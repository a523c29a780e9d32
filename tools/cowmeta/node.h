// node.h - chunk map nodes: in-core form, pack/unpack, validator.
//
// A node block (struct cow_node_disk) is 4096 bytes: a 40-byte header and
// kNodeEntries little-endian 64-bit entries.  Leaves (level 0) hold slot + 1
// per origin chunk (0 = not mapped) and, in format 2, the chunk's missing
// sub-chunks in bits 48-63 (leaf_make(); all of them set: a clean chunk,
// with kIncompatClean); interior nodes hold child pointers
// (ptr_make(): pair block in bits 0-39, low 24 bits of the child's commit
// seq in bits 40-63).
#ifndef COWMETA_NODE_H
#define COWMETA_NODE_H

#include <array>
#include <cstdint>

#include "cowmeta/format.h"
#include "cowmeta/superblock.h"

namespace cowmeta {

struct node {
	uint32_t magic = kNodeMagic;
	uint32_t csum = 0;
	uint64_t blocknr = 0;
	uint64_t seq = 0;
	uint64_t index = 0;
	uint32_t level = 0;
	uint32_t pad = 0;
	std::array<uint64_t, kNodeEntries> entries{};
};

struct node_traits {
	static void unpack(const block_buf &disk, node &core);
	static void pack_raw(const node &core, block_buf &disk);
	// Pack with a freshly computed checksum.
	static void pack(const node &core, block_buf &disk);
};

// Validation of one node copy, in the kernel's order (cow_node_read).
enum class node_status {
	ok,		// valid, placed, from the expected commit, not too new
	unreadable,
	bad_magic_or_csum,
	misplaced,	// wrong block number, level or index
	wrong_seq,	// not written by the commit the parent names
	too_new,	// written by a commit after the superblock's
};
const char *node_status_str(node_status s);

// Check one copy read from block @blocknr.  @want_seq is the 24-bit seq the
// parent records; @sb_seq the seq of the superblock in force.
node_status node_check(const block_buf &disk, uint64_t blocknr, unsigned level,
		       uint64_t index, uint64_t want_seq, uint64_t sb_seq);

// What is wrong with bits 48-63 of the non-zero leaf entry @e of chunk
// @chunk (inside the array) on an array of geometry @g: the kernel's rules
// (cow_node_check), in its order.  A clean chunk's entry (leaf_is_clean())
// has no missing sub-chunks and is not for this check: its bits read as
// missing sub-chunks are invalid, as they are without the feature.
enum class missing_fault {
	none,		// no bits set, or valid format 2 bits
	reserved,	// format 1: the bits are reserved
	no_slot,	// format 2: bits set but no slot (slot field 0)
	small_chunk,	// format 2: the chunk is too small to have sub-chunks
	past_end,	// format 2: a bit of a sub-chunk past the end of the array
	all_missing,	// format 2: every sub-chunk missing, nothing in the slot
};
const char *missing_fault_str(missing_fault f);

missing_fault leaf_missing_check(uint64_t e, uint64_t chunk, const geometry &g);

// True if the block looks like a node (magic and checksum right), whatever
// its placement.
bool node_block_valid(const block_buf &disk);

}  // namespace cowmeta

#endif
