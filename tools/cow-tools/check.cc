// check.cc - cow_check: validate cow metadata, optionally clear needs_check.
#include <getopt.h>

#include "commands.h"
#include "cowmeta/checker.h"
#include "cowmeta/superblock.h"

namespace cowtools {

namespace {

const char kUsage[] =
	"Usage: cow_check [options] DEV\n"
	"Check the cow metadata on DEV, the dirty device of an md cow array (or an\n"
	"image of it).\n"
	"\n"
	"  -q, --quiet              print nothing; the exit code tells\n"
	"  -v, --verbose            one line per map node\n"
	"      --clear-needs-check  clear the needs_check flag if the check is clean\n"
	"      --origin DEV         also verify that DEV is the array's origin\n"
	"      --data-offset SECT   md's data area starts at sector SECT (default:\n"
	"                           from md's v1.2 superblock)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit: 0 clean, 1 non-fatal damage only, 2 fatal damage (the kernel refuses\n"
	"the array or would serve wrong data), 3 usage or I/O error.\n";

}  // namespace

int cmd_check(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	static const struct option opts[] = {
		{"quiet", no_argument, nullptr, 'q'},
		{"verbose", no_argument, nullptr, 'v'},
		{"clear-needs-check", no_argument, nullptr, 'C'},
		{"origin", required_argument, nullptr, 'O'},
		{"data-offset", required_argument, nullptr, 'D'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	bool quiet = false, clear = false;
	std::optional<uint64_t> data_offset;
	std::string origin_path;
	cowmeta::check_options copt;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qvh", opts, nullptr)) != -1) {
		uint64_t v;

		switch (c) {
		case 'q': quiet = true; break;
		case 'v': copt.verbose = true; break;
		case 'C': clear = true; break;
		case 'O': origin_path = optarg; break;
		case 'D':
			if (!parse_u64(optarg, v)) {
				err << "cow_check: bad --data-offset '" << optarg << "'\n";
				return kExitUsage;
			}
			data_offset = v;
			break;
		case 'h': out << kUsage; return kExitOk;
		default: err << "cow_check: bad option\n" << kUsage; return kExitUsage;
		}
	}
	if (optind != argc - 1) {
		err << kUsage;
		return kExitUsage;
	}

	opened_dirty od;
	if (!open_dirty(argv[optind], clear, data_offset, od, err, "cow_check"))
		return kExitUsage;
	std::unique_ptr<cowmeta::file_device> origin;
	if (!origin_path.empty()) {
		std::string e;

		origin = cowmeta::file_device::open(origin_path, false, e);
		if (!origin) {
			err << "cow_check: " << e << "\n";
			return kExitUsage;
		}
		copt.origin = origin.get();
	}

	cowmeta::nested_output nout(out, !quiet);
	cowmeta::check_result r = cowmeta::check_metadata(*od.area, od.layout, nout, copt);
	if (r.io_error)
		return kExitUsage;

	if (clear && r.sb_copy >= 0 && (r.sb.flags & cowmeta::kFlagNeedsCheck)) {
		if (r.worst != cowmeta::severity::none) {
			nout("needs_check flag left set: the metadata is not clean");
		} else {
			cowmeta::superblock sb = r.sb;
			cowmeta::block_buf b;
			uint64_t blocknr = r.sb_copy ? cowmeta::kSbBlockA : cowmeta::kSbBlockB;

			// A commit without changes but the flag: the other copy
			// gets the superblock in force with seq + 1, so a torn
			// write leaves the current copy in force.  Bytes beyond the
			// structure are zero (the check was clean).
			sb.flags &= ~cowmeta::kFlagNeedsCheck;
			sb.blocknr = blocknr;
			sb.seq++;
			cowmeta::superblock_traits::pack(sb, b);
			if (!od.area->write_block(blocknr, b) || !od.area->flush()) {
				err << "cow_check: cannot rewrite the superblock\n";
				return kExitUsage;
			}
			nout("needs_check flag cleared");
		}
	}
	return static_cast<int>(r.worst);
}

}  // namespace cowtools
