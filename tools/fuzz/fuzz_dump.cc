// fuzz_dump.cc - the JSON dump parser, and restore of what it accepts.
//
// Invariants: nothing crashes; an accepted dump re-emitted as JSON parses
// to the same dump and the same text; restoring it onto a small device
// either refuses cleanly or writes metadata whose chunk map cow_check
// accepts and which dumps back to the same mappings.
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cowmeta/checker.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"

using namespace cowmeta;

namespace {

bool map_damage(const check_result &r)
{
	for (const finding &f : r.findings)
		if (f.sev == severity::fatal && f.kind >= damage::map_empty_inconsistent &&
		    f.kind <= damage::meta_unit_overlap)
			return true;
	return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string text(reinterpret_cast<const char *>(data), size);
	dump_collector c;

	try {
		parse_dump(text, c);
	} catch (const json_error &) {
		return 0;
	}
	if (!validate_dump(c.d).empty())
		abort();
	std::ostringstream t1, t2;
	json_emitter e1(t1);
	emit_dump(c.d, e1);
	dump_collector c2;
	std::string s1 = t1.str();
	parse_dump(s1, c2);
	json_emitter e2(t2);
	emit_dump(c2.d, e2);
	if (t2.str() != s1 || !(c2.d.runs == c.d.runs))
		abort();

	// Restore onto an 8 MiB data area without md superblock.
	memory_device dev(8 << 20);
	dirty_layout l;
	l.data_sectors = dev.size() / 512;
	data_area area(dev, 0, dev.size() / kBlockSize);
	std::string err;
	restore_options ro;
	ro.now = 1;
	if (!restore_metadata(area, l, c.d, ro, err))
		return 0;
	std::ostringstream sink;
	nested_output quiet(sink, false);
	check_result r = check_metadata(area, l, quiet, check_options());
	if (map_damage(r)) {
		nested_output loud(std::cerr);
		check_metadata(area, l, loud, check_options());
		abort();
	}
	if (r.worst != severity::fatal) {
		dump_collector back;
		read_result rr = read_metadata(area, l, back, false, quiet);

		if (!rr.ok || !(back.d.runs == c.d.runs))
			abort();
	}
	return 0;
}
