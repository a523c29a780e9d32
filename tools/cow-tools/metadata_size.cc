// metadata_size.cc - cow_metadata_size: how big a dirty device must be.
#include <cmath>
#include <cstring>

#include "commands.h"
#include "cowmeta/sizing.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_metadata_size", "--origin-size SIZE [options]",
	"How big the dirty device of a cow array must be to hold a given share of\n"
	"the origin's chunks written (data, the chunk map and the slots the kernel\n"
	"keeps free), and the RAM the running array uses.  SIZE: bytes, or with a\n"
	"K, M, G, T or P suffix (powers of 1024).",
	"Exit: 0 ok, 3 usage error.\n",
	kFormat | kOutput, false, 0, 0,
};

std::string human(uint64_t b)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = static_cast<double>(b);
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	return u ? cowmeta::strf("%.1f %s", v, units[u]) : cowmeta::strf("%" PRIu64 " B", b);
}

}  // namespace

int cmd_metadata_size(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	cowmeta::sizing_input in;
	std::optional<uint64_t> data_offset;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"origin-size", 's', "SIZE", "size of the origin (of the array)",
		 [&](const char *a) { return parse_size(a, in.array_bytes); }},
		{"chunk-size", 'c', "SIZE", "chunk size, 4K..1M (default 64K)",
		 [&](const char *a) {
			 uint64_t v;

			 if (!parse_size(a, v) || v > UINT32_MAX)
				 return false;
			 in.chunk_bytes = static_cast<uint32_t>(v);
			 return true;
		 }},
		{"written", 'w', "FRACTION", "share of the chunks ever written: 0..1 or a\npercentage (default 1: the whole origin)",
		 [&](const char *a) {
			 char *end;
			 double v = std::strtod(a, &end);

			 if (end == a)
				 return false;
			 if (!std::strcmp(end, "%"))
				 v /= 100;
			 else if (*end)
				 return false;
			 in.written = v;
			 return v >= 0 && v <= 1;
		 }},
		{"copy-on-read", 0, nullptr, "the array uses copy-on-read (md/cow/cache): one\nmore bit of RAM per chunk",
		 [&](const char *) {
			 in.copy_on_read = true;
			 return true;
		 }},
		{"md-data-offset", 0, "SIZE", "md's data offset on the dirty device (default:\nmdadm's choice for the size computed)",
		 [&](const char *a) {
			 uint64_t v;

			 if (!parse_size(a, v))
				 return false;
			 data_offset = v;
			 return true;
		 }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	if (!in.array_bytes) {
		err << "cow_metadata_size: --origin-size is required\nTry 'cow_metadata_size --help'.\n";
		return kExitUsage;
	}
	// mdadm's data offset depends on the device size: settle it.
	cowmeta::sizing s;
	in.data_offset_bytes = data_offset ? *data_offset : 1ULL << 20;
	for (int i = 0; i < 8; i++) {
		if (!cowmeta::compute_sizing(in, s)) {
			err << "cow_metadata_size: invalid input: the origin size must be a non-zero"
			       " multiple of 4 KiB, the chunk size a power of two from 4K to 1M\n";
			return kExitUsage;
		}
		uint64_t want = cowmeta::md_default_data_offset(s.dirty_bytes);

		if (data_offset || want <= in.data_offset_bytes)
			break;
		in.data_offset_bytes = want;
	}

	output_file of(out, co.output);
	std::ostream &o = of.stream();
	if (co.json) {
		o << "{\"origin_bytes\": " << in.array_bytes << ", \"chunk_bytes\": " << in.chunk_bytes
		  << ", \"written\": " << cowmeta::strf("%.6g", in.written)
		  << ", \"chunks\": " << s.chunks << ", \"written_chunks\": " << s.written_chunks
		  << ", \"map_depth\": " << s.depth << ", \"leaves\": " << s.leaves
		  << ", \"interior_nodes\": " << s.interior << ", \"metadata_slots\": " << s.meta_slots
		  << ", \"reserve_slots\": " << s.reserve_slots
		  << ", \"md_data_offset_bytes\": " << in.data_offset_bytes
		  << ", \"dirty_bytes\": " << s.dirty_bytes
		  << ", \"ram\": {\"chunk_bitmap\": " << s.ram_chunk_bitmap
		  << ", \"clean_bitmap\": " << s.ram_clean_bitmap << ", \"slot_bitmap\": " << s.ram_slot_bitmap << ", \"interior_nodes\": " << s.ram_interior
		  << ", \"leaf_cache\": " << s.ram_leaf_cache << ", \"copy_up_buffers\": " << s.ram_copy_up
		  << ", \"total\": " << s.ram_total << "}}\n";
	} else if (co.quiet) {
		o << s.dirty_bytes << "\n";
	} else {
		o << cowmeta::strf("dirty device: at least %" PRIu64 " bytes (%s)\n", s.dirty_bytes,
				   human(s.dirty_bytes).c_str());
		o << cowmeta::strf("  %" PRIu64 " of %" PRIu64 " chunks written, %s each: %s of data\n",
				   s.written_chunks, s.chunks, human(in.chunk_bytes).c_str(),
				   human(s.written_chunks * in.chunk_bytes).c_str());
		o << cowmeta::strf("  chunk map: depth %u, up to %" PRIu64 " leaves and %" PRIu64
				   " interior nodes in %" PRIu64 " slots (%s)\n", s.depth, s.leaves,
				   s.interior, s.meta_slots, human(s.meta_slots * in.chunk_bytes).c_str());
		o << cowmeta::strf("  %" PRIu64 " slots kept free by the kernel, md data offset %s,"
				   " cow header %s\n", s.reserve_slots, human(in.data_offset_bytes).c_str(),
				   human(s.header_bytes - in.data_offset_bytes).c_str());
		o << cowmeta::strf("RAM of the running array: about %s\n", human(s.ram_total).c_str());
		o << cowmeta::strf("  chunk bitmap %s, slot bitmap %s, interior nodes %s, leaf cache %s,\n"
				   "  copy-up buffers up to %s while copy-ups run\n",
				   human(s.ram_chunk_bitmap).c_str(), human(s.ram_slot_bitmap).c_str(),
				   human(s.ram_interior).c_str(), human(s.ram_leaf_cache).c_str(),
				   human(s.ram_copy_up).c_str());
		if (in.copy_on_read)
			o << cowmeta::strf("  clean-chunk bitmap %s (copy-on-read)\n",
					   human(s.ram_clean_bitmap).c_str());
	}
	return of.close(err, "cow_metadata_size") ? kExitOk : kExitUsage;
}

}  // namespace cowtools
