// node.cc - chunk map node pack/unpack and validation.
#include "cowmeta/node.h"

#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"

namespace cowmeta {

namespace {

enum : size_t {
	kOffMagic = 0, kOffCsum = 4, kOffBlocknr = 8, kOffSeq = 16,
	kOffIndex = 24, kOffLevel = 32, kOffPad = 36, kOffEntries = 40,
};
static_assert(kOffEntries + 8 * kNodeEntries == kBlockSize, "node layout");

}  // namespace

void node_traits::unpack(const block_buf &disk, node &n)
{
	const uint8_t *d = disk.data();

	n.magic = get_le32(d + kOffMagic);
	n.csum = get_le32(d + kOffCsum);
	n.blocknr = get_le64(d + kOffBlocknr);
	n.seq = get_le64(d + kOffSeq);
	n.index = get_le64(d + kOffIndex);
	n.level = get_le32(d + kOffLevel);
	n.pad = get_le32(d + kOffPad);
	for (unsigned i = 0; i < kNodeEntries; i++)
		n.entries[i] = get_le64(d + kOffEntries + 8 * i);
}

void node_traits::pack_raw(const node &n, block_buf &disk)
{
	uint8_t *d = disk.data();

	put_le32(d + kOffMagic, n.magic);
	put_le32(d + kOffCsum, n.csum);
	put_le64(d + kOffBlocknr, n.blocknr);
	put_le64(d + kOffSeq, n.seq);
	put_le64(d + kOffIndex, n.index);
	put_le32(d + kOffLevel, n.level);
	put_le32(d + kOffPad, n.pad);
	for (unsigned i = 0; i < kNodeEntries; i++)
		put_le64(d + kOffEntries + 8 * i, n.entries[i]);
}

void node_traits::pack(const node &n, block_buf &disk)
{
	pack_raw(n, disk);
	put_le32(disk.data() + kOffCsum, block_csum(disk.data(), kOffCsum));
}

const char *node_status_str(node_status s)
{
	switch (s) {
	case node_status::ok: return "valid";
	case node_status::unreadable: return "unreadable";
	case node_status::bad_magic_or_csum: return "bad magic or checksum";
	case node_status::misplaced: return "misplaced node (wrong block, level or index)";
	case node_status::wrong_seq: return "not from the expected commit (stale or lost write?)";
	case node_status::too_new: return "written by a commit newer than the superblock";
	}
	return "?";
}

const char *missing_fault_str(missing_fault f)
{
	switch (f) {
	case missing_fault::none: return "valid";
	case missing_fault::reserved: return "reserved bits set";
	case missing_fault::no_slot: return "missing sub-chunks without a slot";
	case missing_fault::small_chunk: return "missing sub-chunks in a chunk too small to have any";
	case missing_fault::past_end: return "missing sub-chunks past the end of the array";
	case missing_fault::all_missing: return "no sub-chunk in the slot";
	}
	return "?";
}

missing_fault leaf_missing_check(uint64_t e, uint64_t chunk, const geometry &g)
{
	uint16_t missing = leaf_missing(e), exist;

	if (!missing)
		return missing_fault::none;
	if (g.format < 2)
		return missing_fault::reserved;
	if (!(e & kLeafSlotMask))
		return missing_fault::no_slot;
	exist = g.subchunks(chunk);
	if (!exist)
		return missing_fault::small_chunk;
	if (missing & ~exist)
		return missing_fault::past_end;
	if (missing == exist)
		return missing_fault::all_missing;
	return missing_fault::none;
}

bool node_block_valid(const block_buf &disk)
{
	return get_le32(disk.data() + kOffMagic) == kNodeMagic &&
	       get_le32(disk.data() + kOffCsum) == block_csum(disk.data(), kOffCsum);
}

node_status node_check(const block_buf &disk, uint64_t blocknr, unsigned level,
		       uint64_t index, uint64_t want_seq, uint64_t sb_seq)
{
	const uint8_t *d = disk.data();
	uint64_t seq;

	if (!node_block_valid(disk))
		return node_status::bad_magic_or_csum;
	if (get_le64(d + kOffBlocknr) != blocknr || get_le32(d + kOffLevel) != level ||
	    get_le64(d + kOffIndex) != index)
		return node_status::misplaced;
	seq = get_le64(d + kOffSeq);
	if ((seq & kPtrSeqMask) != want_seq)
		return node_status::wrong_seq;
	if (seq > sb_seq)
		return node_status::too_new;
	return node_status::ok;
}

}  // namespace cowmeta
