// map.cc - cow_map: where each chunk of the array is read from.
#include "commands.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_map", "[options] DEV",
	"Show, like qemu-img map, where the cow array on dirty device DEV reads\n"
	"each run of chunks from: the origin (or zeros without origin), the\n"
	"dirty device (slot and byte offset on DEV), or zeros (\"zero\": zero\n"
	"chunks of format 2, which have no slot).  A partial chunk (format 2: some sub-chunks not in\n"
	"its slot) gets a line per range of sub-chunks read from the same place\n"
	"(\"C sub I-J\" in the Chunks column).  A clean chunk (a copy of the\n"
	"origin's that copy-on-read keeps) reads from its slot and shows as\n"
	"\"clean\" instead of \"dirty\".",
	"Exit: 0 ok, 2 the metadata has fatal damage, 3 usage or I/O error.\n",
	kFormat | kOutput | kDataOffset | kLive, false, 1, 1,
};

// Where a run of chunks reads from: the origin (zeros without one), a
// slot of the dirty device (written data, or a clean chunk's copy of the
// origin's), or zeros (zero chunks, format 2).
enum class from { origin, dirty, clean, zero };

struct entry {
	uint64_t chunk, count;
	from kind;
	uint64_t slot;
	unsigned sub = 0, subs = 0;	// a part of a partial chunk: sub-chunks
					// sub .. sub + subs - 1; subs 0: whole chunks
};

// The parts of partial chunk @chunk (missing sub-chunks @missing, slot
// @slot): one entry per range of existing sub-chunks read from the same
// place.
void add_parts(std::vector<entry> &list, const cowmeta::geometry &g, uint64_t chunk,
	       uint64_t slot, uint16_t missing)
{
	uint16_t exist = g.subchunks(chunk);

	for (unsigned i = 0; i < cowmeta::kSubchunks && (exist >> i & 1);) {
		bool in_slot = !(missing >> i & 1);
		unsigned j = i + 1;

		while (j < cowmeta::kSubchunks && (exist >> j & 1) && !(missing >> j & 1) == in_slot)
			j++;
		list.push_back({chunk, 1, in_slot ? from::dirty : from::origin, in_slot ? slot : 0,
				i, j - i});
		i = j;
	}
}

}  // namespace

int cmd_map(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	std::optional<uint64_t> only;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"origin-chunk", 'c', "N", "only chunk N",
		 [&](const char *a) {
			 uint64_t v;

			 if (!parse_u64(a, v))
				 return false;
			 only = v;
			 return true;
		 }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	opened_dirty od;
	if (!open_dirty(args[0], false, co, od, err, "cow_map"))
		return kExitUsage;
	cowmeta::dump_collector dc;
	cowmeta::nested_output log(err);
	std::unique_ptr<cowmeta::progress> prog = make_progress(co, err);
	cowmeta::read_result r = cowmeta::read_metadata(*od.area, od.layout, dc, false, log, prog.get());
	if (!r.ok) {
		err << "cow_map: " << args[0] << ": " << r.err << "\n";
		return kExitFatal;
	}

	const cowmeta::superblock &sb = dc.d.sb;
	cowmeta::geometry g;
	cowmeta::sb_unpack_problems(sb, g);
	uint64_t csize = static_cast<uint64_t>(sb.chunk_sectors) * 512;
	uint64_t ssize = static_cast<uint64_t>(g.sub_sectors) * 512;
	uint64_t array_bytes = sb.array_sectors * 512;
	uint64_t nr_chunks = (array_bytes + csize - 1) / csize;
	std::vector<entry> list;
	uint64_t pos = 0;
	for (const cowmeta::mapping_run &m : dc.d.runs) {
		if (m.origin_chunk > pos)
			list.push_back({pos, m.origin_chunk - pos, from::origin, 0});
		if (m.zero)
			list.push_back({m.origin_chunk, m.length, from::zero, 0});
		else if (m.clean)
			list.push_back({m.origin_chunk, m.length, from::clean, m.slot});
		else if (!m.missing)
			list.push_back({m.origin_chunk, m.length, from::dirty, m.slot});
		else
			for (uint64_t i = 0; i < m.length; i++)
				add_parts(list, g, m.origin_chunk + i, m.slot + i, m.missing);
		pos = m.origin_chunk + m.length;
	}
	if (pos < nr_chunks)
		list.push_back({pos, nr_chunks - pos, from::origin, 0});
	if (only) {
		std::vector<entry> sel;

		if (*only >= nr_chunks) {
			err << "cow_map: the array has " << nr_chunks << " chunks\n";
			return kExitUsage;
		}
		for (const entry &e : list) {
			if (*only < e.chunk || *only >= e.chunk + e.count)
				continue;
			sel.push_back(e);
			if (e.subs)
				continue;	// the other parts follow
			sel.back().chunk = *only;
			sel.back().count = 1;
			if (e.kind == from::dirty || e.kind == from::clean)
				sel.back().slot = e.slot + (*only - e.chunk);
		}
		list.swap(sel);
	}

	const char *unwritten = sb.has_origin() ? "origin" : "zero";
	auto data = [&](const entry &e) {
		return e.kind == from::dirty ? "dirty" : e.kind == from::clean ? "clean" :
		       e.kind == from::zero ? "zero" : unwritten;
	};
	output_file of(out, co.output);
	std::ostream &o = of.stream();
	bool human = !co.json;
	if (human)
		o << cowmeta::strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks",
				     "Mapped to");
	else
		o << "[";
	bool first = true;
	for (const entry &e : list) {
		uint64_t start = e.chunk * csize + e.sub * ssize;
		uint64_t end = std::min(e.subs ? start + e.subs * ssize : (e.chunk + e.count) * csize,
					array_bytes);
		uint64_t off = od.area->offset() +
			       (sb.data_start + e.slot * (sb.chunk_sectors / 8)) * cowmeta::kBlockSize +
			       e.sub * ssize;
		std::string chunks = e.count == 1 ? std::to_string(e.chunk) :
				     cowmeta::strf("%" PRIu64 "-%" PRIu64, e.chunk, e.chunk + e.count - 1);

		if (e.subs)
			chunks += e.subs == 1 ? cowmeta::strf(" sub %u", e.sub) :
				  cowmeta::strf(" sub %u-%u", e.sub, e.sub + e.subs - 1);

		bool in_slot = e.kind == from::dirty || e.kind == from::clean;

		if (human) {
			std::string to = in_slot ?
				cowmeta::strf("%s 0x%" PRIx64 " (slot %" PRIu64 ")", data(e), off, e.slot) :
				data(e);

			o << cowmeta::strf("0x%-16" PRIx64 " 0x%-16" PRIx64 " %-23s %s\n", start,
					     end - start, chunks.c_str(), to.c_str());
			continue;
		}
		o << (first ? "\n" : ",\n")
		    << cowmeta::strf("  {\"start\": %" PRIu64 ", \"length\": %" PRIu64
				     ", \"chunk\": %" PRIu64 ", \"chunks\": %" PRIu64 ", \"data\": \"%s\"",
				     start, end - start, e.chunk, e.count, data(e));
		if (e.subs)
			o << cowmeta::strf(", \"subchunk\": %u, \"subchunks\": %u", e.sub, e.subs);
		if (in_slot)
			o << cowmeta::strf(", \"slot\": %" PRIu64 ", \"offset\": %" PRIu64, e.slot, off);
		o << "}";
		first = false;
	}
	if (!human)
		o << (first ? "]\n" : "\n]\n");
	return of.close(err, "cow_map") ? kExitOk : kExitUsage;
}

}  // namespace cowtools
