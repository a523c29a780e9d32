// repair.cc - cow_repair: salvage damaged metadata into a fresh set.
#include <sys/stat.h>

#include <ctime>

#include <sstream>

#include "commands.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_repair", "-i DAMAGED -o DEV [options]",
	"Read what can be read of the cow metadata on DAMAGED and write it as a\n"
	"fresh metadata set onto DEV: DAMAGED itself (repair in place; keep a copy\n"
	"first) or a full copy of it.  Chunk data is not copied: DEV must hold it.\n"
	"The report of what was lost goes to standard output (or --report FILE).",
	"Exit: 0 repaired, nothing lost; 1 repaired, some mappings lost or changed\n"
	"(listed); 2 nothing usable, the result does not fit DEV, or DEV is not\n"
	"DAMAGED's state; 3 usage or I/O error.\n",
	kDataOffset, false, 0, 0,
};

}  // namespace

int cmd_repair(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	std::string input, output, report;
	bool dry = false;
	cowmeta::restore_options ro;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"input", 'i', "DEV", "the damaged dirty device (or image)",
		 [&](const char *a) { input = a; return true; }},
		{"output", 'o', "DEV", "where the repaired metadata goes",
		 [&](const char *a) { output = a; return true; }},
		{"dry-run", 'n', nullptr, "report what would be lost, write nothing",
		 [&](const char *) { dry = true; return true; }},
		{"force", 0, nullptr,
		 "write although DEV's superblock is of another\narray or commit than DAMAGED's",
		 [&](const char *) { ro.force = true; return true; }},
		{"report", 0, "FILE", "write the report to FILE (default stdout)",
		 [&](const char *a) { report = !std::string(a).compare("-") ? "" : a; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	if (input.empty() || (output.empty() && !dry)) {
		err << "cow_repair: -i DAMAGED and -o DEV are required (or -n)\n"
		       "Try 'cow_repair --help'.\n";
		return kExitUsage;
	}

	// Repair in place: one exclusive, writable open serves both sides.
	struct stat si, so;
	bool same = !dry && stat(input.c_str(), &si) == 0 && stat(output.c_str(), &so) == 0 &&
		    (S_ISBLK(si.st_mode) ? S_ISBLK(so.st_mode) && si.st_rdev == so.st_rdev :
		     si.st_dev == so.st_dev && si.st_ino == so.st_ino);
	opened_dirty in;
	if (!open_dirty(input, same, co, in, err, "cow_repair"))
		return kExitUsage;
	output_file of(out, report);
	std::ostringstream sink;
	cowmeta::nested_output log(co.quiet ? sink : of.stream());
	std::unique_ptr<cowmeta::progress> prog = make_progress(co, err);
	cowmeta::dump_collector dc;
	log("salvaging " + input);
	cowmeta::read_result r;
	{
		auto _ = log.push();
		r = cowmeta::read_metadata(*in.area, in.layout, dc, true, log, prog.get());
	}
	if (!r.ok) {
		of.close(err, "cow_repair");
		err << "cow_repair: " << input << ": " << r.err << "\n";
		return kExitFatal;
	}
	cowmeta::superblock &sb = dc.d.sb;
	sb.flags &= ~cowmeta::kFlagNeedsCheck;
	// Feature and flag the kernel refuses: format 1 has no clean chunks
	// (the salvage kept none), copy-on-read needs them and an origin.
	if ((sb.incompat & cowmeta::kIncompatClean) && !cowmeta::clean_chunks_of(sb.incompat)) {
		sb.incompat &= ~cowmeta::kIncompatClean;
		log("cleared the clean chunks feature: format 1 has none");
	}
	if ((sb.flags & cowmeta::kFlagCache) &&
	    (!cowmeta::clean_chunks_of(sb.incompat) || !sb.has_origin())) {
		sb.flags &= ~cowmeta::kFlagCache;
		log(std::string("cleared the copy-on-read flag: the array has ") +
		    (sb.has_origin() ? "no clean chunks feature" : "no origin"));
	}
	log(cowmeta::strf("%" PRIu64 " chunks mapped in %zu runs; %" PRIu64
			  " entries dropped, up to %" PRIu64 " chunks lost",
			  r.mapped, dc.d.runs.size(), r.dropped, r.lost_chunks));
	if (r.zero)
		log(cowmeta::strf("%" PRIu64 " of the mapped chunks are zero chunks (kept)", r.zero));
	if (r.clean)
		log(cowmeta::strf("%" PRIu64 " of the mapped chunks are clean chunks (kept)", r.clean));
	if (r.fixed)
		log(cowmeta::strf("%" PRIu64 " entries kept with invalid sub-chunk bits cleared",
				  r.fixed));
	rc = r.dropped || r.lost_chunks || r.fixed ? kExitNonFatal : kExitOk;
	if (!dry) {
		opened_dirty o;
		opened_dirty *dst = &in;
		std::string e;

		if (!same) {
			if (!open_dirty(output, true, co, o, err, "cow_repair"))
				return kExitUsage;
			dst = &o;
		}
		ro.now = static_cast<uint64_t>(time(nullptr));
		ro.salvaged = true;
		ro.prog = prog.get();
		if (!cowmeta::restore_metadata(*dst->area, dst->layout, dc.d, ro, e)) {
			of.close(err, "cow_repair");
			err << "cow_repair: " << output << ": " << e << "\n";
			return e.rfind("cannot", 0) == 0 ? kExitUsage : kExitFatal;
		}
		log("wrote fresh metadata to " + output);
	}
	return of.close(err, "cow_repair") ? rc : kExitUsage;
}

}  // namespace cowtools
