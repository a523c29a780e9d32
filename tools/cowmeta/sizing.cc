// sizing.cc - dirty device size and RAM use (see sizing.h for the sources).
#include "cowmeta/sizing.h"

#include <cmath>

#include "cowmeta/format.h"

namespace cowmeta {

namespace {

uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

}  // namespace

uint64_t md_default_data_offset(uint64_t dev_bytes)
{
	uint64_t headroom = 128ULL << 20;

	while (headroom > (1ULL << 20) && headroom * 1024 > dev_bytes)
		headroom >>= 1;
	return headroom;
}

bool compute_sizing(const sizing_input &in, sizing &s)
{
	uint32_t cb = in.chunk_bytes / kBlockSize;

	s = sizing();
	if (!is_power_of_2(in.chunk_bytes) || in.chunk_bytes < kMinChunkSectors * 512 ||
	    in.chunk_bytes > kMaxChunkSectors * 512 || !in.array_bytes ||
	    in.array_bytes % kBlockSize || !(in.written >= 0 && in.written <= 1))
		return false;
	s.chunks = div_up(in.array_bytes, in.chunk_bytes);
	s.written_chunks = static_cast<uint64_t>(std::ceil(in.written * static_cast<double>(s.chunks)));
	if (s.written_chunks > s.chunks)
		s.written_chunks = s.chunks;
	s.depth = min_depth(s.chunks);

	// Nodes: at each level no more than the nodes below it (scattered
	// writes) nor than cover the array.
	uint64_t below = s.written_chunks, span = 1;
	for (unsigned l = 0; l < s.depth; l++) {
		span = l ? span * kNodeEntries : kNodeEntries;
		uint64_t n = std::min(below, div_up(s.chunks, span));

		if (!s.written_chunks)
			n = 0;
		if (l == 0)
			s.leaves = n;
		else
			s.interior += n;
		below = n;
	}
	s.pairs = s.leaves + s.interior;
	uint32_t unit_slots = cb >= 2 ? 1 : 2, unit_pairs = cb >= 2 ? cb / 2 : 1;
	s.meta_slots = div_up(s.pairs, unit_pairs) * unit_slots;
	s.reserve_slots = div_up(s.depth, unit_pairs) * unit_slots;
	uint64_t data_start = std::max<uint64_t>(kMinDataStart, cb);
	s.header_bytes = in.data_offset_bytes + data_start * kBlockSize;
	s.dirty_bytes = s.header_bytes +
			(s.written_chunks + s.meta_slots + s.reserve_slots) * in.chunk_bytes;

	uint64_t slots = (s.dirty_bytes - s.header_bytes) / in.chunk_bytes;
	s.ram_chunk_bitmap = div_up(s.chunks, 64) * 8;
	s.ram_clean_bitmap = in.copy_on_read ? s.ram_chunk_bitmap : 0;
	s.ram_slot_bitmap = div_up(slots, 64) * 8;
	s.ram_interior = s.interior * kNodeMemBytes;
	s.ram_leaf_cache = std::min(s.leaves, kLeafCacheMax) * kNodeMemBytes;
	s.ram_copy_up = kMaxCopyUps * in.chunk_bytes;
	s.ram_total = s.ram_chunk_bitmap + s.ram_clean_bitmap + s.ram_slot_bitmap + s.ram_interior +
		      s.ram_leaf_cache + s.ram_copy_up;
	return true;
}

}  // namespace cowmeta
