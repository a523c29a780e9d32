// restore.cc - cow_restore: write fresh metadata from a JSON dump.
#include <getopt.h>

#include <ctime>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/restore.h"

namespace cowtools {

namespace {

const char kUsage[] =
	"Usage: cow_restore -i FILE -o DEV [options]\n"
	"Write a fresh, valid cow metadata set described by the JSON dump FILE\n"
	"(\"-\" = stdin) onto DEV, the dirty device.  Chunk data stays in the slots\n"
	"the dump names; the chunk map is laid out anew behind the highest data slot.\n"
	"\n"
	"  -i, --input FILE         the dump\n"
	"  -o, --output DEV         the dirty device (or an image of it)\n"
	"      --data-offset SECT   md's data area starts at sector SECT\n"
	"      --force              restore although DEV's superblock says it is not\n"
	"                           the state the dump was taken of (another commit\n"
	"                           or array)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit: 0 restored, 2 the dump is invalid or does not fit DEV (nothing\n"
	"written), 3 usage or I/O error.\n";

}  // namespace

int cmd_restore(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	static const struct option opts[] = {
		{"input", required_argument, nullptr, 'i'},
		{"output", required_argument, nullptr, 'o'},
		{"data-offset", required_argument, nullptr, 'D'},
		{"force", no_argument, nullptr, 'F'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	std::string input, output, text;
	std::optional<uint64_t> data_offset;
	cowmeta::restore_options ro;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:o:h", opts, nullptr)) != -1) {
		uint64_t v;

		switch (c) {
		case 'i': input = optarg; break;
		case 'o': output = optarg; break;
		case 'F': ro.force = true; break;
		case 'D':
			if (!parse_u64(optarg, v)) {
				err << "cow_restore: bad --data-offset '" << optarg << "'\n";
				return kExitUsage;
			}
			data_offset = v;
			break;
		case 'h': out << kUsage; return kExitOk;
		default: err << "cow_restore: bad option\n" << kUsage; return kExitUsage;
		}
	}
	if (optind != argc || input.empty() || output.empty()) {
		err << kUsage;
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
	if (!open_dirty(output, true, data_offset, od, err, "cow_restore"))
		return kExitUsage;
	std::string e;
	ro.now = static_cast<uint64_t>(time(nullptr));
	if (!cowmeta::restore_metadata(*od.area, od.layout, dc.d, ro, e)) {
		err << "cow_restore: " << output << ": " << e << "\n";
		return e.rfind("cannot", 0) == 0 ? kExitUsage : kExitFatal;
	}
	return kExitOk;
}

}  // namespace cowtools
