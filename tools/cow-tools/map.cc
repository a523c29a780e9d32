// map.cc - cow_map: where each chunk of the array is read from.
#include "commands.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_map", "[options] DEV",
	"Show, like qemu-img map, where the cow array on dirty device DEV reads\n"
	"each run of chunks from: the origin (or zeros without origin) or the\n"
	"dirty device (slot and byte offset on DEV).",
	"Exit: 0 ok, 2 the metadata has fatal damage, 3 usage or I/O error.\n",
	kFormat | kOutput | kDataOffset | kLive, false, 1, 1,
};

struct entry {
	uint64_t chunk, count;
	bool dirty;
	uint64_t slot;
};

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
	uint64_t csize = static_cast<uint64_t>(sb.chunk_sectors) * 512;
	uint64_t array_bytes = sb.array_sectors * 512;
	uint64_t nr_chunks = (array_bytes + csize - 1) / csize;
	std::vector<entry> list;
	uint64_t pos = 0;
	for (const cowmeta::mapping_run &m : dc.d.runs) {
		if (m.origin_chunk > pos)
			list.push_back({pos, m.origin_chunk - pos, false, 0});
		list.push_back({m.origin_chunk, m.length, true, m.slot});
		pos = m.origin_chunk + m.length;
	}
	if (pos < nr_chunks)
		list.push_back({pos, nr_chunks - pos, false, 0});
	if (only) {
		if (*only >= nr_chunks) {
			err << "cow_map: the array has " << nr_chunks << " chunks\n";
			return kExitUsage;
		}
		for (const entry &e : list)
			if (*only >= e.chunk && *only < e.chunk + e.count) {
				entry one = {*only, 1, e.dirty, e.dirty ? e.slot + (*only - e.chunk) : 0};

				list = {one};
				break;
			}
	}

	const char *clean = sb.has_origin() ? "origin" : "zero";
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
		uint64_t start = e.chunk * csize;
		uint64_t end = std::min((e.chunk + e.count) * csize, array_bytes);
		uint64_t off = od.area->offset() +
			       (sb.data_start + e.slot * (sb.chunk_sectors / 8)) * cowmeta::kBlockSize;
		std::string chunks = e.count == 1 ? std::to_string(e.chunk) :
				     cowmeta::strf("%" PRIu64 "-%" PRIu64, e.chunk, e.chunk + e.count - 1);

		if (human) {
			std::string to = e.dirty ?
				cowmeta::strf("dirty 0x%" PRIx64 " (slot %" PRIu64 ")", off, e.slot) :
				clean;

			o << cowmeta::strf("0x%-16" PRIx64 " 0x%-16" PRIx64 " %-23s %s\n", start,
					     end - start, chunks.c_str(), to.c_str());
			continue;
		}
		o << (first ? "\n" : ",\n")
		    << cowmeta::strf("  {\"start\": %" PRIu64 ", \"length\": %" PRIu64
				     ", \"chunk\": %" PRIu64 ", \"chunks\": %" PRIu64 ", \"data\": \"%s\"",
				     start, end - start, e.chunk, e.count, e.dirty ? "dirty" : clean);
		if (e.dirty)
			o << cowmeta::strf(", \"slot\": %" PRIu64 ", \"offset\": %" PRIu64, e.slot, off);
		o << "}";
		first = false;
	}
	if (!human)
		o << (first ? "]\n" : "\n]\n");
	return of.close(err, "cow_map") ? kExitOk : kExitUsage;
}

}  // namespace cowtools
