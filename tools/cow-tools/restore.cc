// restore.cc - cow_restore: write fresh metadata from a JSON dump.
#include <ctime>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/restore.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_restore", "-i FILE -o DEV [options]",
	"Write a fresh, valid cow metadata set described by the JSON dump FILE\n"
	"(\"-\" = stdin) onto DEV, the dirty device of a stopped array.  Chunk data\n"
	"stays in the slots the dump names; the map is laid out anew, crash safely.",
	"Exit: 0 restored, 2 the dump is invalid, does not fit DEV or is not of DEV's\n"
	"state (nothing written), 3 usage or I/O error.\n",
	kDataOffset, false, 0, 0,
};

}  // namespace

int cmd_restore(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	std::string input, output, text;
	cowmeta::restore_options ro;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"input", 'i', "FILE", "the dump (\"-\" = stdin)",
		 [&](const char *a) { input = a; return true; }},
		{"output", 'o', "DEV", "the dirty device (or an image of it)",
		 [&](const char *a) { output = a; return true; }},
		{"force", 0, nullptr,
		 "restore although DEV's superblock says it is not\nthe state the dump was taken of (another commit\nor array)",
		 [&](const char *) { ro.force = true; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	if (input.empty() || output.empty()) {
		err << "cow_restore: -i FILE and -o DEV are required\nTry 'cow_restore --help'.\n";
		return kExitUsage;
	}
	if (!read_text(input, text, err, "cow_restore"))
		return kExitUsage;

	cowmeta::dump_collector dc;
	try {
		cowmeta::parse_dump(text, dc);
	} catch (const cowmeta::json_error &e) {
		err << "cow_restore: " << input << ": " << e.what() << "\n";
		return kExitFatal;
	}

	opened_dirty od;
	if (!open_dirty(output, true, co, od, err, "cow_restore"))
		return kExitUsage;
	std::string e;
	std::unique_ptr<cowmeta::progress> prog = make_progress(co, err);
	cowmeta::restore_info info;
	ro.now = static_cast<uint64_t>(time(nullptr));
	ro.prog = prog.get();
	if (!cowmeta::restore_metadata(*od.area, od.layout, dc.d, ro, e, &info)) {
		err << "cow_restore: " << output << ": " << e << "\n";
		return e.rfind("cannot", 0) == 0 ? kExitUsage : kExitFatal;
	}
	if (info.live_map_leaked && !co.quiet)
		err << "cow_restore: note: no room for a two-step restore; the old map's slots"
		    << (cowmeta::format_of(dc.d.sb.incompat) >= 2 ?
			" are left free (format 2: the kernel hands them out again)\n" :
			" are left leaked (non-fatal)\n");
	if (co.verbose)
		out << "restored " << dc.d.runs.size() << " runs onto " << output << " in "
		    << info.passes << (info.passes == 1 ? " step" : " steps") << "\n";
	return output_ok(out, err, "cow_restore", "standard output") ? kExitOk : kExitUsage;
}

}  // namespace cowtools
