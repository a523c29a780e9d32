// fuzz_node.cc - the map node parser and validator.
//
// Invariants: nothing crashes; unpack + pack_raw reproduce the block; a
// node packed with a fresh checksum validates exactly where it says it is;
// every entry, read as a leaf entry of a format 1 array, a format 2 array
// with sub-chunks (whose last chunk is partial) and a format 2 array of
// chunks too small for sub-chunks, each also with the clean chunks
// feature, is judged by the format's rules (the missing sub-chunk bits,
// the zero chunk entry of format 2, and clean chunks: a slot and all 16
// bits set, only with the feature, which format 1 cannot have).
#include <cstdlib>
#include <cstring>

#include "cowmeta/node.h"

using namespace cowmeta;

namespace {

geometry geometry_of(uint64_t incompat, uint32_t chunk_sectors, uint64_t array_sectors)
{
	superblock sb;
	geometry g;

	sb.incompat = incompat;
	sb.flags = kFlagNoOrigin;
	sb.chunk_sectors = chunk_sectors;
	sb.array_sectors = array_sectors;
	sb.data_start = 256;
	sb_unpack_problems(sb, g);
	return g;
}

// The rules of md-cow_p.h, written out again.
missing_fault expected(uint64_t e, uint64_t chunk, const geometry &g)
{
	uint16_t m = static_cast<uint16_t>(e >> 48), exist = 0;
	uint64_t start = chunk * g.chunk_sectors;

	if (!m)
		return missing_fault::none;
	if (g.format != 2)
		return missing_fault::reserved;
	if (!(e & kLeafSlotMask))
		return missing_fault::no_slot;
	if (g.chunk_sectors < kSubchunkMinChunk)
		return missing_fault::small_chunk;
	for (unsigned i = 0; i < kSubchunks; i++)
		if (start + i * (g.chunk_sectors / kSubchunks) < g.array_sectors)
			exist |= static_cast<uint16_t>(1U << i);
	if (m & ~exist)
		return missing_fault::past_end;
	return m == exist ? missing_fault::all_missing : missing_fault::none;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	block_buf b{}, c;
	node n;

	std::memcpy(b.data(), data, std::min(size, b.size()));
	node_traits::unpack(b, n);
	node_traits::pack_raw(n, c);
	if (b != c)
		abort();
	node_check(b, n.blocknr, n.level, n.index, n.seq & kPtrSeqMask, n.seq);
	node_check(b, n.blocknr + 1, n.level, n.index, 0, 0);
	node_traits::pack(n, c);
	if (n.magic == kNodeMagic &&
	    node_check(c, n.blocknr, n.level, n.index, n.seq & kPtrSeqMask, n.seq) != node_status::ok)
		abort();
	if (node_check(c, n.blocknr, n.level, n.index, (n.seq + 1) & kPtrSeqMask, UINT64_MAX) ==
	    node_status::ok)
		abort();

	// Leaf entries: 1000 chunks of 64 KiB, the last one 40 sectors.
	static const geometry geos[] = {
		geometry_of(0, 128, 999 * 128 + 40),
		geometry_of(kIncompatSubchunk, 128, 999 * 128 + 40),
		geometry_of(kIncompatSubchunk, 8, 1000 * 8),
		geometry_of(kIncompatClean, 128, 999 * 128 + 40),
		geometry_of(kIncompatSubchunk | kIncompatClean, 128, 999 * 128 + 40),
		geometry_of(kIncompatSubchunk | kIncompatClean, 8, 1000 * 8),
	};
	for (const geometry &g : geos)
		for (unsigned i = 0; i < kNodeEntries; i++) {
			uint64_t e = n.entries[i], chunk = (n.index * kNodeEntries + i) % g.nr_chunks;

			if (i == 0)
				chunk = g.nr_chunks - 1;	// the partial last chunk
			if (e && leaf_missing_check(e, chunk, g) != expected(e, chunk, g))
				abort();
			// A zero chunk: format 2, slot field all ones, no bits.
			if (leaf_is_zero(e, g.format) !=
			    (g.format == 2 && e == 0x0000ffffffffffffULL))
				abort();
			// A clean chunk: format 2 with the feature, a slot, all
			// bits set; never a zero chunk.  Its bits are no valid
			// missing sub-chunks (the feature is what makes it one).
			bool clean = leaf_is_clean(e, g.clean);
			if (clean != (g.format == 2 && g.clean && e >> 48 == 0xffff &&
				      (e & 0x0000ffffffffffffULL)) ||
			    (clean && (leaf_is_zero(e, g.format) ||
				       leaf_missing_check(e, chunk, g) == missing_fault::none)))
				abort();
		}
	return 0;
}
