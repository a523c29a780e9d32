// rmap.cc - cow_rmap: what a sector or slot of the dirty device holds.
#include <algorithm>
#include <map>
#include <sstream>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/map_walker.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_rmap", "[options] (--sector S[..E] | --slot N[..M])... DEV",
	"Map sectors (512 bytes, from the start of DEV, as a kernel I/O error\n"
	"reports them) or slots of the cow dirty device DEV to what they hold: md's\n"
	"superblock area, a cow superblock copy, the handoff block, a reserved\n"
	"header block, the data of an origin chunk (\"clean\": a copy of the\n"
	"origin's that copy-on-read keeps), a map node, or nothing (a free slot;\n"
	"in format 1 one below alloc_next is leaked).  The map is read as a\n"
	"salvage reads it, so damaged metadata can be mapped.",
	"Exit: 0 ok, 2 no usable cow superblock, 3 usage or I/O error.\n",
	kFormat | kOutput | kDataOffset | kLive, false, 1, 1,
};

struct range {
	uint64_t first, last;	// inclusive
};

bool parse_range(const char *a, range &r)
{
	std::string s(a);
	size_t dots = s.find("..");

	if (dots == std::string::npos)
		return parse_u64(a, r.first) && (r.last = r.first, true);
	return parse_u64(s.substr(0, dots).c_str(), r.first) &&
	       parse_u64(s.substr(dots + 2).c_str(), r.last) && r.first <= r.last;
}

// What one slot holds.
struct slot_use {
	bool data = false;
	bool clean = false;	// the data is a clean chunk (copy of the origin's)
	uint64_t chunk = 0;
	std::vector<std::string> nodes;	// "map node level L index I"
};

// Records what the walk finds in the slots asked about.
class rmap_visitor : public cowmeta::map_visitor {
public:
	rmap_visitor(const cowmeta::superblock &sb, const cowmeta::geometry &g,
		     const std::vector<range> &slots, std::map<uint64_t, slot_use> &found)
		: sb_(sb), g_(g), slots_(slots), found_(found) {}
	bool wanted(uint64_t s) const
	{
		auto it = std::upper_bound(slots_.begin(), slots_.end(), s,
					   [](uint64_t x, const range &r) { return x < r.first; });
		return it != slots_.begin() && s <= std::prev(it)->last;
	}
	void bad_pointer(unsigned, uint64_t, uint64_t, cowmeta::pointer_fault) override {}
	bool visit_node(unsigned level, uint64_t index, uint64_t pair, const cowmeta::pair_read &r,
			int used) override
	{
		uint64_t slot = (pair - sb_.data_start) / g_.chunk_blocks;
		std::string what = cowmeta::strf("map node level %u index %" PRIu64
						 " (pair at block %" PRIu64 ", copy %d in force)",
						 level, index, pair, used < 0 ? r.in_force : used);

		for (uint64_t s = slot; s <= slot + (g_.chunk_blocks == 1 ? 1 : 0); s++)
			if (wanted(s))
				found_[s].nodes.push_back(what);
		return true;
	}
	void visit_entry(uint64_t chunk, uint64_t e) override
	{
		uint64_t slot = (e & cowmeta::kLeafSlotMask) - 1;

		// A zero chunk (format 2) has no slot.
		if (cowmeta::leaf_is_zero(e, g_.format))
			return;
		if ((e & cowmeta::kLeafSlotMask) && wanted(slot)) {
			found_[slot].data = true;
			found_[slot].clean = cowmeta::leaf_is_clean(e, g_.clean);
			found_[slot].chunk = chunk;
		}
	}

private:
	const cowmeta::superblock &sb_;
	const cowmeta::geometry &g_;
	const std::vector<range> &slots_;
	std::map<uint64_t, slot_use> &found_;
};

struct line {
	uint64_t first_sector, last_sector;
	std::string what;
	uint64_t slot = UINT64_MAX, chunk = UINT64_MAX;
};

}  // namespace

int cmd_rmap(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	std::vector<range> sectors, slot_args;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"sector", 's', "S[..E]", "sectors S to E of DEV (512 bytes; repeatable)",
		 [&](const char *a) { range r; return parse_range(a, r) && (sectors.push_back(r), true); }},
		{"slot", 0, "N[..M]", "slots N to M (repeatable)",
		 [&](const char *a) { range r; return parse_range(a, r) && (slot_args.push_back(r), true); }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	if (sectors.empty() && slot_args.empty()) {
		err << "cow_rmap: --sector or --slot is required\nTry 'cow_rmap --help'.\n";
		return kExitUsage;
	}
	opened_dirty od;
	if (!open_dirty(args[0], false, co, od, err, "cow_rmap"))
		return kExitUsage;
	std::ostringstream sink;
	cowmeta::nested_output quiet(sink, false);
	cowmeta::superblock sb;
	cowmeta::geometry g;
	std::string e;
	if (!cowmeta::find_superblock(*od.area, true, sb, g, quiet, e)) {
		err << "cow_rmap: " << args[0] << ": " << e << "\n";
		return kExitFatal;
	}

	// Everything in sectors of DEV; slots become their sector ranges.
	const uint64_t off = od.layout.data_offset, bs = cowmeta::kBlockSectors;
	const uint64_t cs = sb.chunk_sectors, area_end = off + od.area->blocks() * bs;
	for (const range &r : slot_args) {
		uint64_t a = off + sb.data_start * bs + r.first * cs;

		sectors.push_back({a, a + (r.last - r.first + 1) * cs - 1});
	}
	// The slots touched, for one map walk.
	std::vector<range> slots;
	for (const range &r : sectors) {
		uint64_t first = std::max(r.first, off + sb.data_start * bs);
		uint64_t last = std::min(r.last, area_end - 1);

		if (first <= last)
			slots.push_back({(first - off - sb.data_start * bs) / cs,
					 (last - off - sb.data_start * bs) / cs});
	}
	std::sort(slots.begin(), slots.end(), [](const range &a, const range &b) { return a.first < b.first; });
	std::map<uint64_t, slot_use> found;
	rmap_visitor v(sb, g, slots, found);
	cowmeta::walk_map(*od.area, sb, g, v, true);

	std::vector<line> lines;
	uint64_t csize = cs * 512;
	for (const range &r : sectors) {
		for (uint64_t s = r.first; s <= r.last;) {
			line l;
			uint64_t end;

			if (s < off) {
				end = std::min(r.last, off - 1);
				l.what = s < 8 + 8 && end >= 8 ? "md superblock area (md's v1.2 superblock at sector 8)" :
					 "md's area before the data offset";
			} else if (s >= area_end) {
				end = r.last;
				l.what = "beyond md's data area";
			} else {
				uint64_t blk = (s - off) / bs;

				if (blk < sb.data_start) {
					end = std::min(r.last, off + (blk + 1) * bs - 1);
					l.what = blk == 0 ? "cow superblock copy A" : blk == 1 ? "cow superblock copy B" :
						 blk == 2 ? "handoff block" :
						 cowmeta::strf("reserved header block %" PRIu64, blk);
				} else {
					uint64_t slot = (blk - sb.data_start) / (cs / bs);
					uint64_t slot_start = off + sb.data_start * bs + slot * cs;
					auto it = found.find(slot);

					end = std::min(r.last, slot_start + cs - 1);
					l.slot = slot;
					if (it != found.end() && it->second.data) {
						l.chunk = it->second.chunk;
						l.what = cowmeta::strf("data of chunk %" PRIu64 " (array bytes %" PRIu64
								       "-%" PRIu64 ")%s", l.chunk, l.chunk * csize,
								       l.chunk * csize + csize - 1,
								       it->second.clean ?
								       ", clean (a copy of the origin's)" : "");
					} else if (it != found.end()) {
						l.what = "map metadata: " + it->second.nodes[0];
						for (size_t k = 1; k < it->second.nodes.size(); k++)
							l.what += "; " + it->second.nodes[k];
					} else if (slot >= sb.alloc_next) {
						l.what = "not allocated (free)";
					} else if (sb.meta_unit && slot == (sb.meta_unit - sb.data_start) / (cs / bs)) {
						l.what = "the metadata unit being filled (unused pairs)";
					} else if (g.format >= 2) {
						// Format 2: the kernel hands it out again.
						l.what = "free (below alloc_next, holds nothing mapped)";
					} else {
						l.what = "allocated but holds nothing mapped (leaked slot)";
					}
				}
			}
			l.first_sector = s;
			l.last_sector = end;
			lines.push_back(l);
			s = end + 1;
			if (!s)
				break;
		}
	}

	output_file of(out, co.output);
	std::ostream &o = of.stream();
	const char *sep = "\n";
	if (co.json)
		o << "[";
	for (const line &l : lines) {
		if (co.json) {
			o << sep << "  {\"sector\": " << l.first_sector << ", \"sectors\": "
			  << l.last_sector - l.first_sector + 1;
			if (l.slot != UINT64_MAX)
				o << ", \"slot\": " << l.slot;
			if (l.chunk != UINT64_MAX)
				o << ", \"chunk\": " << l.chunk;
			o << ", \"holds\": " << cowmeta::json_quote(l.what) << "}";
			sep = ",\n";
			continue;
		}
		o << cowmeta::strf("sectors %" PRIu64 "-%" PRIu64 ": ", l.first_sector, l.last_sector);
		if (l.slot != UINT64_MAX)
			o << "slot " << l.slot << ": ";
		o << l.what << "\n";
	}
	if (co.json)
		o << (lines.empty() ? "]\n" : "\n]\n");
	return of.close(err, "cow_rmap") ? kExitOk : kExitUsage;
}

}  // namespace cowtools
