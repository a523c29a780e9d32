// fuzz_image.cc - cow_check, cow_dump --repair and restore on a whole
// (small) data area image: the input, zero-extended to 64 blocks.
//
// Invariants: nothing crashes or hangs; a salvaged dump restores to
// metadata whose chunk map cow_check accepts, and that dumps back to the
// salvaged mappings.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "cowmeta/checker.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"

using namespace cowmeta;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	constexpr size_t kBlocks = 64;
	memory_device dev(kBlocks * kBlockSize);
	dirty_layout l;
	std::ostringstream sink;
	nested_output quiet(sink, false);

	std::memcpy(dev.bytes().data(), data, std::min(size, dev.bytes().size()));
	l.data_sectors = kBlocks * kBlockSectors;
	data_area area(dev, 0, kBlocks);
	check_metadata(area, l, quiet, check_options());

	dump_collector salvaged;
	read_result r = read_metadata(area, l, salvaged, true, quiet);
	if (!r.ok)
		return 0;
	dump_collector strict;
	read_metadata(area, l, strict, false, quiet);

	std::string err;
	restore_options ro;
	ro.now = 1;
	ro.salvaged = true;
	if (!restore_metadata(area, l, salvaged.d, ro, err))
		return 0;
	check_result c = check_metadata(area, l, quiet, check_options());
	for (const finding &f : c.findings)
		if (f.sev == severity::fatal && f.kind >= damage::map_empty_inconsistent &&
		    f.kind <= damage::meta_unit_overlap) {
			nested_output loud(std::cerr);
			check_metadata(area, l, loud, check_options());
			abort();
		}
	if (c.worst != severity::fatal) {
		dump_collector back;

		if (!read_metadata(area, l, back, false, quiet).ok || !(back.d.runs == salvaged.d.runs))
			abort();
	}
	return 0;
}
