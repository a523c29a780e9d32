// map_walker.cc - chunk map traversal.
#include "cowmeta/map_walker.h"

#include "cowmeta/endian.h"

namespace cowmeta {

namespace {

uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

struct walk_state {
	progress *prog;
	uint64_t pairs = 0;
};

void walk(data_area &area, const superblock &sb, const geometry &geo,
	  map_visitor &v, bool salvage, uint64_t ptr, unsigned level, uint64_t index,
	  walk_state &ws)
{
	uint64_t pair = ptr_block(ptr);
	pointer_fault pf = check_pointer(sb, geo, pair);
	int used;

	if (pf != pointer_fault::none) {
		v.bad_pointer(level, index, pair, pf);
		return;
	}
	pair_read r = read_pair(area, pair, level, index, ptr_seq(ptr), sb.seq);
	if (ws.prog && !(++ws.pairs & 63))
		ws.prog->update("reading the chunk map (node pairs)", ws.pairs, sb.meta_blocks / 2);
	used = r.in_force >= 0 ? r.in_force : salvage ? r.fallback : -1;
	if (!v.visit_node(level, index, pair, r, used) || used < 0)
		return;
	const node &n = r.copy[used];
	for (unsigned i = 0; i < kNodeEntries; i++) {
		uint64_t e = n.entries[i], child = index * kNodeEntries + i;

		if (!e)
			continue;
		if (level)
			walk(area, sb, geo, v, salvage, e, level - 1, child, ws);
		else
			v.visit_entry(child, e);
	}
}

}  // namespace

pair_read read_pair(data_area &area, uint64_t pair, unsigned level,
		    uint64_t index, uint64_t want_seq, uint64_t sb_seq)
{
	pair_read r;
	block_buf b;

	for (int c = 0; c < 2; c++) {
		if (!area.read_block(pair + c, b)) {
			r.st[c] = node_status::unreadable;
			continue;
		}
		r.st[c] = node_check(b, pair + c, level, index, want_seq, sb_seq);
		r.valid[c] = node_block_valid(b);
		r.magic[c] = get_le32(b.data()) == kNodeMagic;
		if (r.valid[c]) {
			node_traits::unpack(b, r.copy[c]);
			r.seq[c] = r.copy[c].seq;
		}
		if (r.st[c] == node_status::ok &&
		    (r.in_force < 0 || r.seq[c] > r.seq[r.in_force]))
			r.in_force = c;
		if ((r.st[c] == node_status::ok || r.st[c] == node_status::wrong_seq) &&
		    r.seq[c] <= sb_seq &&
		    (r.fallback < 0 || r.seq[c] > r.seq[r.fallback]))
			r.fallback = c;
	}
	return r;
}

pointer_fault check_pointer(const superblock &sb, const geometry &geo, uint64_t pair)
{
	uint64_t first = sb.data_start;
	uint64_t end = sat_add(first, sat_mul(sb.alloc_next, geo.chunk_blocks));
	uint64_t slot;

	if (pair < first || sat_add(pair, 2) > end)
		return pointer_fault::out_of_range;
	slot = (pair - first) / geo.chunk_blocks;
	if ((pair + 1 - first) / geo.chunk_blocks != slot + (geo.chunk_blocks == 1 ? 1 : 0))
		return pointer_fault::straddles_slots;
	return pointer_fault::none;
}

void walk_map(data_area &area, const superblock &sb, const geometry &geo,
	      map_visitor &v, bool salvage, progress *prog)
{
	walk_state ws{prog};

	if (!sb.map_root)
		return;
	walk(area, sb, geo, v, salvage, ptr_make(sb.map_root, sb.map_root_seq),
	     geo.depth - 1, 0, ws);
	if (prog)
		prog->done();
}

}  // namespace cowmeta
