// restore.cc - metadata layout and writing.
#include "cowmeta/restore.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "cowmeta/dump_format.h"
#include "cowmeta/handoff.h"
#include "cowmeta/map_walker.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/strf.h"

namespace cowmeta {

namespace {

// Whole metadata units that fit in the slots below @first_free that hold
// no data of the dump and are not in @avoid, in slot order.
std::vector<uint64_t> hole_units(const std::vector<mapping_run> &runs, uint64_t first_free,
				 uint32_t unit_slots, const std::vector<uint64_t> *avoid)
{
	std::vector<std::pair<uint64_t, uint64_t>> used;	// slot, length
	std::vector<uint64_t> units;
	uint64_t pos = 0;

	for (const mapping_run &r : runs)
		if (!r.zero)
			used.emplace_back(r.slot, r.length);
	if (avoid)
		for (uint64_t s : *avoid)
			if (s < first_free)
				used.emplace_back(s, 1);
	std::sort(used.begin(), used.end());
	used.emplace_back(first_free, 0);
	for (const auto &u : used) {
		for (; u.first > pos && u.first - pos >= unit_slots; pos += unit_slots)
			units.push_back(pos);
		pos = std::max(pos, u.first + u.second);
	}
	return units;
}

}  // namespace

bool plan_restore(const metadata_dump &d, uint64_t data_blocks, uint64_t now,
		  restore_plan &plan, std::string &err, const unit_placement &where)
{
	std::string problem = validate_dump(d);
	const superblock &in = d.sb;
	geometry &g = plan.geo;
	uint64_t seq, first_free = 0, mapped = 0, total_slots, npairs;

	if (!problem.empty()) {
		err = "invalid dump: " + problem;
		return false;
	}
	seq = where.seq ? where.seq : in.seq + 1;
	if (in.seq >= UINT64_MAX - 8 || seq >= UINT64_MAX - 2 || seq <= in.seq) {
		err = "superblock seq is too large";
		return false;
	}
	sb_unpack_problems(in, g);
	// The dump's depth if the kernel accepts it, else the shallowest.
	if (!in.map_depth || in.map_depth > kMaxDepth || div_pow(g.nr_chunks - 1, in.map_depth))
		g.depth = min_depth(g.nr_chunks);
	else
		g.depth = in.map_depth;

	for (const mapping_run &r : d.runs) {
		if (!r.zero)
			first_free = std::max(first_free, r.slot + r.length);
		mapped += r.length;	// zero and clean chunks count as mapped
	}
	total_slots = data_blocks > in.data_start ? (data_blocks - in.data_start) / g.chunk_blocks : 0;
	if (first_free > total_slots) {
		err = strf("not enough room on the dirty device: the dump uses slots up to %" PRIu64
			   ", it has %" PRIu64, first_free - 1, total_slots);
		return false;
	}

	// Node indices: every leaf a run touches, then every ancestor.
	plan.levels.assign(g.depth, {});
	for (const mapping_run &r : d.runs) {
		uint64_t first = r.origin_chunk / kNodeEntries;
		uint64_t last = (r.origin_chunk + r.length - 1) / kNodeEntries;
		std::vector<uint64_t> &leaves = plan.levels[0];

		for (uint64_t l = leaves.empty() || leaves.back() < first ? first : leaves.back() + 1;
		     l <= last; l++)
			leaves.push_back(l);
	}
	for (unsigned l = 1; l < g.depth; l++)
		for (uint64_t child : plan.levels[l - 1])
			if (plan.levels[l].empty() || plan.levels[l].back() != child / kNodeEntries)
				plan.levels[l].push_back(child / kNodeEntries);
	if (plan.levels[0].empty())
		for (auto &v : plan.levels)
			v.clear();

	// Units: holes below the data first (if asked), then after it.
	npairs = plan.pairs();
	uint64_t nr_units = (npairs + g.unit_pairs - 1) / g.unit_pairs;
	uint64_t alloc_next = first_free, next = std::max(first_free, where.after);

	plan.unit_slots.clear();
	if (where.use_holes)
		plan.unit_slots = hole_units(d.runs, first_free, g.unit_slots, where.avoid);
	if (plan.unit_slots.size() > nr_units)
		plan.unit_slots.resize(nr_units);
	while (plan.unit_slots.size() < nr_units) {
		plan.unit_slots.push_back(next);
		next += g.unit_slots;
		alloc_next = next;
	}
	plan.seq = seq;
	plan.sb.data_start = in.data_start;

	if (alloc_next > total_slots) {
		err = strf("not enough room on the dirty device: the chunks and the map need %" PRIu64
			   " slots, it has %" PRIu64, alloc_next, total_slots);
		return false;
	}

	superblock &sb = plan.sb;
	sb = superblock();
	sb.seq = seq + 1;
	sb.blocknr = kSbBlockA;
	sb.compat = in.compat;
	sb.ro_compat = in.ro_compat;
	sb.incompat = in.incompat;
	sb.flags = in.flags;
	sb.array_uuid = in.array_uuid;
	sb.ctime = in.ctime;
	sb.utime = now;
	sb.array_sectors = in.array_sectors;
	sb.chunk_sectors = in.chunk_sectors;
	sb.origin_sectors = in.origin_sectors;
	sb.origin_fp = in.origin_fp;
	sb.origin_fp_method = in.origin_fp_method;
	sb.origin_locator = in.origin_locator;
	sb.data_start = in.data_start;
	sb.dirty_blocks = in.data_start + total_slots * g.chunk_blocks;
	sb.mapped_chunks = mapped;
	if (npairs) {
		sb.map_root = plan.pair_block(0);
		sb.map_root_seq = seq;
		sb.map_depth = g.depth;
		sb.alloc_next = alloc_next;
		sb.meta_unit = in.data_start + plan.unit_slots.back() * g.chunk_blocks;
		sb.meta_used = static_cast<uint32_t>(npairs - (nr_units - 1) * g.unit_pairs);
		sb.meta_blocks = nr_units * g.unit_slots * g.chunk_blocks;
	} else {
		// Empty map: nothing allocated; the depth as dumped if valid.
		sb.map_depth = in.map_depth == g.depth ? g.depth : 0;
	}
	return true;
}

uint64_t restore_plan::pairs() const
{
	uint64_t n = 0;

	for (const auto &v : levels)
		n += v.size();
	return n;
}

uint64_t restore_plan::pair_number(unsigned level, uint64_t index) const
{
	uint64_t k = 0;

	for (unsigned l = static_cast<unsigned>(levels.size()); l-- > level + 1;)
		k += levels[l].size();
	const std::vector<uint64_t> &v = levels[level];
	return k + static_cast<uint64_t>(std::lower_bound(v.begin(), v.end(), index) - v.begin());
}

uint64_t restore_plan::pair_block(uint64_t k) const
{
	return sb.data_start + unit_slots[k / geo.unit_pairs] * geo.chunk_blocks +
	       2 * (k % geo.unit_pairs);
}

node restore_plan::build_node(uint64_t k, const std::vector<mapping_run> &runs) const
{
	unsigned level = static_cast<unsigned>(levels.size());
	uint64_t pos = k;
	node n;

	while (level-- > 0 && pos >= levels[level].size())
		pos -= levels[level].size();
	n.level = level;
	n.index = levels[level][pos];
	n.blocknr = pair_block(k);
	n.seq = seq;
	uint64_t first = n.index * kNodeEntries, end = first + kNodeEntries;
	if (level == 0) {
		// The runs that overlap [first, end): runs are sorted by chunk.
		auto it = std::upper_bound(runs.begin(), runs.end(), first,
					   [](uint64_t c, const mapping_run &r) {
						   return c < r.origin_chunk + r.length;
					   });
		for (; it != runs.end() && it->origin_chunk < end; ++it)
			for (uint64_t c = std::max(first, it->origin_chunk);
			     c < std::min(end, it->origin_chunk + it->length); c++)
				n.entries[c - first] = it->zero ? kLeafZero :
						       leaf_make(it->slot + (c - it->origin_chunk),
								 it->clean ? kLeafClean : it->missing);
		return n;
	}
	const std::vector<uint64_t> &below = levels[level - 1];
	for (auto it = std::lower_bound(below.begin(), below.end(), first);
	     it != below.end() && *it < end; ++it)
		n.entries[*it - first] = ptr_make(pair_block(pair_number(level - 1, *it)), seq);
	return n;
}

namespace {

// Write @plan's units, then the header blocks, then superblock B and A.
bool write_plan(data_area &area, const metadata_dump &d, const restore_plan &plan,
		progress *prog, std::string &err)
{
	uint64_t written = 0;

	const geometry &g = plan.geo;
	uint64_t unit_blocks = static_cast<uint64_t>(g.unit_slots) * g.chunk_blocks;
	std::vector<uint8_t> unit(unit_blocks * kBlockSize);
	block_buf b;

	// Metadata units: nodes in copy 0, everything else zero.
	for (const uint64_t &slot : plan.unit_slots) {
		uint64_t first = d.sb.data_start + slot * g.chunk_blocks;

		std::fill(unit.begin(), unit.end(), 0);
		// Pairs u * unit_pairs .. are this unit's, in order.
		uint64_t u = static_cast<uint64_t>(&slot - plan.unit_slots.data());
		for (uint64_t k = u * g.unit_pairs; k < std::min(plan.pairs(), (u + 1) * g.unit_pairs); k++) {
			node n = plan.build_node(k, d.runs);

			node_traits::pack(n, b);
			std::copy(b.begin(), b.end(), unit.begin() + (n.blocknr - first) * kBlockSize);
		}
		if (!area.write_blocks(first, unit.data(), unit_blocks)) {
			err = strf("cannot write metadata unit at block %" PRIu64, first);
			return false;
		}
		if (prog && !(++written & 63))
			prog->update("writing the chunk map (metadata units)", written,
				     plan.unit_slots.size());
	}
	if (prog)
		prog->done();
	if (!area.flush()) {
		err = "cannot flush the dirty device";
		return false;
	}

	// Handoff block: keep a valid one of this array, else the dump's.
	bool keep = false;
	if (area.read_block(kHandoffBlock, b) && handoff_check(b) == handoff_status::ok) {
		handoff h;

		handoff_traits::unpack(b, h);
		keep = h.array_uuid == d.sb.array_uuid;
	}
	if (!keep && d.ho) {
		handoff h = *d.ho;

		h.magic = kHandoffMagic;
		h.blocknr = kHandoffBlock;
		h.version = kVersion;
		h.pad0 = 0;
		handoff_traits::pack(h, b);
		if (!area.write_block(kHandoffBlock, b)) {
			err = "cannot write the handoff block";
			return false;
		}
	}
	b.fill(0);
	for (uint64_t blk = kHandoffBlock + 1; blk < d.sb.data_start; blk++)
		if (!area.write_block(blk, b)) {
			err = strf("cannot zero header block %" PRIu64, blk);
			return false;
		}

	// Copy B (seq N), then copy A (seq N + 1).
	superblock sb = plan.sb;
	sb.blocknr = kSbBlockB;
	sb.seq = plan.sb.seq - 1;
	superblock_traits::pack(sb, b);
	if (!area.write_block(kSbBlockB, b) || !area.flush()) {
		err = "cannot write superblock copy B";
		return false;
	}
	superblock_traits::pack(plan.sb, b);
	if (!area.write_block(kSbBlockA, b) || !area.flush()) {
		err = "cannot write superblock copy A";
		return false;
	}
	return true;
}

}  // namespace

namespace {

// Collects the slots of every node pair a walk reaches.
class slot_collector : public map_visitor {
public:
	slot_collector(const superblock &sb, const geometry &g, std::vector<uint64_t> &slots)
		: sb_(sb), g_(g), slots_(slots) {}
	void bad_pointer(unsigned, uint64_t, uint64_t, pointer_fault) override {}
	bool visit_node(unsigned, uint64_t, uint64_t pair, const pair_read &, int) override
	{
		uint64_t slot = (pair - sb_.data_start) / g_.chunk_blocks;

		slots_.push_back(slot);
		if (g_.chunk_blocks == 1)
			slots_.push_back(slot + 1);
		return true;
	}
	void visit_entry(uint64_t, uint64_t) override {}

private:
	const superblock &sb_;
	const geometry &g_;
	std::vector<uint64_t> &slots_;
};

// The copies of the superblock on @area that a reader could use: valid
// ones, and ones with the right magic (a salvage uses those).  @seq: the
// highest seq of a valid copy (0 if none).
std::vector<superblock> readable_superblocks(data_area &area, uint64_t &seq)
{
	std::vector<superblock> v;
	block_buf b;

	seq = 0;
	for (uint64_t c = 0; c < 2; c++) {
		superblock sb;
		sb_status st;

		if (!area.read_block(c, b))
			continue;
		st = sb_check(b, c);
		if (st == sb_status::unreadable || st == sb_status::bad_magic)
			continue;
		superblock_traits::unpack(b, sb);
		if (st == sb_status::ok)
			seq = std::max(seq, sb.seq);
		v.push_back(sb);
	}
	return v;
}

// Does a unit of @units take a slot of @sorted?
bool overlaps(const std::vector<uint64_t> &units, uint32_t unit_slots,
	      const std::vector<uint64_t> &sorted)
{
	for (uint64_t u : units) {
		auto it = std::lower_bound(sorted.begin(), sorted.end(), u);

		if (it != sorted.end() && *it < u + unit_slots)
			return true;
	}
	return false;
}

// Is the device in the state the dump was taken of?  Its superblock (as
// the kernel or, for a repair, a salvage picks it) must have the dump's
// array UUID and seq.  A device without a usable superblock passes.
bool same_state(data_area &area, const metadata_dump &d, bool salvaged, std::string &err)
{
	std::ostringstream sink;
	nested_output quiet(sink, false);
	superblock sb;
	geometry g;
	std::string why;

	if (!find_superblock(area, salvaged, sb, g, quiet, why))
		return true;
	if (sb.array_uuid != d.sb.array_uuid) {
		err = "the device holds cow metadata of array " + uuid_str(sb.array_uuid) +
		      ", the dump is of array " + uuid_str(d.sb.array_uuid) +
		      " (--force restores anyway)";
		return false;
	}
	if (sb.seq != d.sb.seq) {
		err = strf("the device is at commit %" PRIu64 ", the dump was taken at commit %" PRIu64
			   ": %s; restoring would pair the chunk data on the device with another"
			   " map (--force restores anyway)", sb.seq, d.sb.seq,
			   sb.seq > d.sb.seq ? "the array was written after the dump" :
			   "the device is older than the dump");
		return false;
	}
	return true;
}

}  // namespace

std::vector<uint64_t> live_map_slots(data_area &area)
{
	std::vector<uint64_t> slots;
	uint64_t seq;

	for (const superblock &sb : readable_superblocks(area, seq)) {
		geometry g;
		bool bad = false;

		for (const sb_problem &p : sb_unpack_problems(sb, g))
			bad |= p.geometry;
		if (bad)
			continue;
		slot_collector c(sb, g, slots);
		walk_map(area, sb, g, c, true);
	}
	std::sort(slots.begin(), slots.end());
	slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
	return slots;
}

bool restore_metadata(data_area &area, const dirty_layout &layout,
		      const metadata_dump &d, const restore_options &opt, std::string &err,
		      restore_info *info)
{
	restore_plan final_map, first_map;
	unit_placement where;
	restore_info dummy;
	std::string e2;
	uint64_t dev_seq;

	if (!info)
		info = &dummy;
	*info = restore_info();
	if (layout.md) {
		if (layout.md->set_uuid != d.sb.array_uuid) {
			err = "the dump belongs to array " + uuid_str(d.sb.array_uuid) +
			      ", the target's md superblock to " + uuid_str(layout.md->set_uuid);
			return false;
		}
		if (layout.md->chunksize != d.sb.chunk_sectors) {
			err = strf("the dump has %u-sector chunks, the target's md superblock %u",
				   d.sb.chunk_sectors, layout.md->chunksize);
			return false;
		}
	}
	if (!opt.force && !same_state(area, d, opt.salvaged, err))
		return false;

	// Every new superblock outranks every valid one on the device.
	readable_superblocks(area, dev_seq);
	where.seq = std::max(d.sb.seq, dev_seq) + 1;
	if (where.seq <= d.sb.seq) {
		err = "superblock seq is too large";
		return false;
	}
	if (!plan_restore(d, area.blocks(), opt.now, final_map, err, where))
		return false;
	std::vector<uint64_t> live = live_map_slots(area);
	const geometry &g = final_map.geo;
	if (!overlaps(final_map.unit_slots, g.unit_slots, live)) {
		info->passes = 1;
		return write_plan(area, d, final_map, opt.prog, err);
	}

	// Two steps: a first map beyond the data, the live map and the final
	// map's units, committed; then the final map.
	unit_placement first = where;
	first.use_holes = false;
	first.after = std::max(live.back() + 1, final_map.sb.alloc_next);
	if (plan_restore(d, area.blocks(), opt.now, first_map, e2, first)) {
		where.seq = first_map.sb.seq + 1;
		if (!plan_restore(d, area.blocks(), opt.now, final_map, err, where))
			return false;
		info->passes = 2;
		return write_plan(area, d, first_map, opt.prog, err) && write_plan(area, d, final_map, opt.prog, err);
	}

	// No room for that: lay the final map out around the live one.
	where.avoid = &live;
	where.after = live.back() + 1;
	if (!plan_restore(d, area.blocks(), opt.now, final_map, e2, where)) {
		err = "not enough room on the dirty device to write the new map without"
		      " overwriting the map in use (" + e2 + "); grow the dirty device first";
		return false;
	}
	info->passes = 1;
	info->live_map_leaked = true;
	return write_plan(area, d, final_map, opt.prog, err);
}

}  // namespace cowmeta
