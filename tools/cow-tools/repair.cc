// repair.cc - cow_repair: salvage damaged metadata into a fresh set.
#include <getopt.h>
#include <sys/stat.h>

#include <ctime>

#include "commands.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const char kUsage[] =
	"Usage: cow_repair -i DAMAGED -o DEV [options]\n"
	"Read what can be read of the cow metadata on DAMAGED and write it as a\n"
	"fresh metadata set onto DEV: DAMAGED itself (repair in place; keep a copy\n"
	"first) or a full copy of it.  Chunk data is not copied: DEV must hold it.\n"
	"\n"
	"  -i, --input DEV          the damaged dirty device (or image)\n"
	"  -o, --output DEV         where the repaired metadata goes\n"
	"      --data-offset SECT   md's data area starts at sector SECT (both)\n"
	"  -n, --dry-run            report what would be lost, write nothing\n"
	"      --force              write although DEV's superblock is of another\n"
	"                           array or commit than DAMAGED's\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit: 0 repaired, nothing lost; 1 repaired, some mappings lost (listed);\n"
	"2 nothing usable or the result does not fit DEV; 3 usage or I/O error.\n";

}  // namespace

int cmd_repair(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	static const struct option opts[] = {
		{"input", required_argument, nullptr, 'i'},
		{"output", required_argument, nullptr, 'o'},
		{"data-offset", required_argument, nullptr, 'D'},
		{"dry-run", no_argument, nullptr, 'n'},
		{"force", no_argument, nullptr, 'F'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	std::string input, output;
	std::optional<uint64_t> data_offset;
	bool dry = false, force = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:o:nh", opts, nullptr)) != -1) {
		uint64_t v;

		switch (c) {
		case 'i': input = optarg; break;
		case 'o': output = optarg; break;
		case 'n': dry = true; break;
		case 'F': force = true; break;
		case 'D':
			if (!parse_u64(optarg, v)) {
				err << "cow_repair: bad --data-offset '" << optarg << "'\n";
				return kExitUsage;
			}
			data_offset = v;
			break;
		case 'h': out << kUsage; return kExitOk;
		default: err << "cow_repair: bad option\n" << kUsage; return kExitUsage;
		}
	}
	if (optind != argc || input.empty() || (output.empty() && !dry)) {
		err << kUsage;
		return kExitUsage;
	}

	// Repair in place: one exclusive, writable open serves both sides.
	struct stat si, so;
	bool same = !dry && stat(input.c_str(), &si) == 0 && stat(output.c_str(), &so) == 0 &&
		    (S_ISBLK(si.st_mode) ? S_ISBLK(so.st_mode) && si.st_rdev == so.st_rdev :
		     si.st_dev == so.st_dev && si.st_ino == so.st_ino);
	opened_dirty in;
	if (!open_dirty(input, same, data_offset, in, err, "cow_repair"))
		return kExitUsage;
	cowmeta::nested_output log(out);
	cowmeta::dump_collector dc;
	log("salvaging " + input);
	cowmeta::read_result r;
	{
		auto _ = log.push();
		r = cowmeta::read_metadata(*in.area, in.layout, dc, true, log);
	}
	if (!r.ok) {
		err << "cow_repair: " << input << ": " << r.err << "\n";
		return kExitFatal;
	}
	dc.d.sb.flags &= ~cowmeta::kFlagNeedsCheck;
	log(cowmeta::strf("%" PRIu64 " chunks mapped in %zu runs; %" PRIu64
			  " entries dropped, up to %" PRIu64 " chunks lost",
			  r.mapped, dc.d.runs.size(), r.dropped, r.lost_chunks));
	int rc = r.dropped || r.lost_chunks ? kExitNonFatal : kExitOk;
	if (dry)
		return rc;

	opened_dirty o;
	opened_dirty *dst = &in;
	if (!same) {
		if (!open_dirty(output, true, data_offset, o, err, "cow_repair"))
			return kExitUsage;
		dst = &o;
	}
	cowmeta::restore_options ro;
	ro.now = static_cast<uint64_t>(time(nullptr));
	ro.salvaged = true;
	ro.force = force;
	cowmeta::restore_emitter re(*dst->area, dst->layout, ro);
	cowmeta::emit_dump(dc.d, re);
	if (!re.ok()) {
		err << "cow_repair: " << output << ": " << re.error() << "\n";
		return kExitFatal;
	}
	log("wrote fresh metadata to " + output);
	return rc;
}

}  // namespace cowtools
