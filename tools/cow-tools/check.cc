// check.cc - cow_check: validate cow metadata, optionally clear needs_check.
#include "commands.h"
#include "cowmeta/checker.h"
#include "cowmeta/superblock.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_check", "[options] DEV",
	"Check the cow metadata on DEV, the dirty device of a stopped md cow array\n"
	"(or an image of it).",
	"Exit: 0 clean, 1 non-fatal damage only, 2 fatal damage (the kernel refuses\n"
	"the array or would serve wrong data), 3 usage or I/O error, or DEV is not a\n"
	"cow device.\n",
	kFormat | kOutput | kDataOffset | kLive, false, 1, 1,
};

}  // namespace

int cmd_check(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	bool clear = false;
	std::string origin_path;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"clear-needs-check", 0, nullptr,
		 "clear the needs_check flag unless the check finds\nfatal damage",
		 [&](const char *) { clear = true; return true; }},
		{"origin", 0, "DEV", "also verify that DEV is the array's origin",
		 [&](const char *a) { origin_path = a; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	if (clear && co.live) {
		err << "cow_check: --clear-needs-check writes: not with --live\n";
		return kExitUsage;
	}
	opened_dirty od;
	if (!open_dirty(args[0], clear, co, od, err, "cow_check"))
		return kExitUsage;
	std::unique_ptr<cowmeta::file_device> origin;
	cowmeta::check_options copt;
	if (!origin_path.empty()) {
		cowmeta::file_device::mode m;
		std::string e;

		m.allow_busy = true;	// other cow arrays may use it: read only
		origin = cowmeta::file_device::open(origin_path, m, e);
		if (!origin) {
			err << "cow_check: " << e << "\n";
			return kExitUsage;
		}
		copt.origin = origin.get();
	}
	copt.verbose = co.verbose > 0;
	std::unique_ptr<cowmeta::progress> prog = make_progress(co, err);
	copt.prog = prog.get();

	output_file of(out, co.output);
	cowmeta::nested_output nout(of.stream(), !co.quiet && !co.json);
	cowmeta::check_result r = cowmeta::check_metadata(*od.area, od.layout, nout, copt);
	if (r.io_error)
		return kExitUsage;

	if (clear && r.sb_copy >= 0 && (r.sb.flags & cowmeta::kFlagNeedsCheck)) {
		if (r.worst == cowmeta::severity::fatal) {
			nout("needs_check flag left set: the metadata has fatal damage");
		} else {
			cowmeta::superblock sb = r.sb;
			cowmeta::block_buf b;
			uint64_t blocknr = r.sb_copy ? cowmeta::kSbBlockA : cowmeta::kSbBlockB;

			// A commit without changes but the flag: the other copy
			// gets the superblock in force with seq + 1, so a torn
			// write leaves the current copy in force.  Non-fatal
			// damage (a leaked slot, a damaged unused node copy, a
			// bad superblock copy: this rewrites it) does not stop
			// the kernel from using the metadata, so it does not
			// keep the flag either.
			sb.flags &= ~cowmeta::kFlagNeedsCheck;
			sb.blocknr = blocknr;
			sb.seq++;
			sb.pad0 = 0;
			sb.free_head = 0;
			sb.reserved.fill(0);
			sb.sb_size = cowmeta::kSbStructSize;
			cowmeta::superblock_traits::pack(sb, b);
			if (!od.area->write_block(blocknr, b) || !od.area->flush()) {
				err << "cow_check: cannot rewrite the superblock\n";
				return kExitUsage;
			}
			r.sb = sb;
			r.sb_copy = r.sb_copy ? 0 : 1;
			nout("needs_check flag cleared");
		}
	}
	if (co.json)
		cowmeta::write_check_json(of.stream(), args[0], r);
	if (!of.close(err, "cow_check"))
		return kExitUsage;
	return static_cast<int>(r.worst);
}

}  // namespace cowtools
