// dump.cc - cow_dump: write the metadata as JSON or for people.
#include <getopt.h>

#include <fstream>
#include <sstream>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/metadata_reader.h"

namespace cowtools {

namespace {

const char kUsage[] =
	"Usage: cow_dump [options] DEV\n"
	"Dump the cow metadata on DEV (a cow dirty device or an image of it).\n"
	"\n"
	"  -f, --format json|human  output format (default json)\n"
	"  -o, --output FILE        write to FILE (default stdout)\n"
	"  -r, --repair             dump what can be read from damaged metadata\n"
	"      --data-offset SECT   md's data area starts at sector SECT\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit: 0 dumped, 1 (--repair) dumped with losses, 2 the metadata has fatal\n"
	"damage (nothing written), 3 usage or I/O error.\n";

}  // namespace

int cmd_dump(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	static const struct option opts[] = {
		{"format", required_argument, nullptr, 'f'},
		{"output", required_argument, nullptr, 'o'},
		{"repair", no_argument, nullptr, 'r'},
		{"data-offset", required_argument, nullptr, 'D'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	std::string format = "json", output;
	std::optional<uint64_t> data_offset;
	bool repair = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:o:rh", opts, nullptr)) != -1) {
		uint64_t v;

		switch (c) {
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'r': repair = true; break;
		case 'D':
			if (!parse_u64(optarg, v)) {
				err << "cow_dump: bad --data-offset '" << optarg << "'\n";
				return kExitUsage;
			}
			data_offset = v;
			break;
		case 'h': out << kUsage; return kExitOk;
		default: err << "cow_dump: bad option\n" << kUsage; return kExitUsage;
		}
	}
	if (optind != argc - 1 || (format != "json" && format != "human")) {
		err << kUsage;
		return kExitUsage;
	}

	opened_dirty od;
	if (!open_dirty(argv[optind], false, data_offset, od, err, "cow_dump"))
		return kExitUsage;

	// Dump into memory first, so that a refusal writes nothing.
	std::ostringstream text;
	std::unique_ptr<cowmeta::emitter> e;
	if (format == "json")
		e = std::make_unique<cowmeta::json_emitter>(text);
	else
		e = std::make_unique<cowmeta::human_emitter>(text);
	cowmeta::nested_output log(err);
	cowmeta::read_result r = cowmeta::read_metadata(*od.area, od.layout, *e, repair, log);
	if (!r.ok) {
		err << "cow_dump: " << argv[optind] << ": " << r.err << "\n";
		return kExitFatal;
	}
	if (output.empty() || output == "-") {
		out << text.str();
		out.flush();
	} else {
		std::ofstream f(output, std::ios::binary | std::ios::trunc);

		f << text.str();
		f.close();
		if (!f) {
			err << "cow_dump: cannot write " << output << "\n";
			return kExitUsage;
		}
	}
	return repair && (r.lost_chunks || r.dropped) ? kExitNonFatal : kExitOk;
}

}  // namespace cowtools
