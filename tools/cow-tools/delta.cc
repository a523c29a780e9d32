// delta.cc - cow_delta: compare the mappings of two JSON dumps.
#include <getopt.h>

#include <algorithm>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const char kUsage[] =
	"Usage: cow_delta DUMP1 DUMP2\n"
	"Compare the chunk mappings of two JSON dumps (\"-\" = stdin for one):\n"
	"  - chunks A-B  slots S-T         mapped only in DUMP1\n"
	"  + chunks A-B  slots S-T         mapped only in DUMP2\n"
	"  ~ chunks A-B  slots S-T -> U-V  mapped to other slots\n"
	"\n"
	"Exit: 0 same mappings, 1 different, 3 usage error or bad dump.\n";

// The run of @runs covering @chunk, advancing @i; nullptr if none.
const cowmeta::mapping_run *cover(const std::vector<cowmeta::mapping_run> &runs, size_t &i,
				  uint64_t chunk)
{
	while (i < runs.size() && runs[i].origin_chunk + runs[i].length <= chunk)
		i++;
	if (i < runs.size() && runs[i].origin_chunk <= chunk)
		return &runs[i];
	return nullptr;
}

struct seg {
	char kind;
	uint64_t chunk, len, s1, s2;
};

}  // namespace

int cmd_delta(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	static const struct option opts[] = {
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	cowmeta::dump_collector d[2];
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, nullptr)) != -1) {
		if (c == 'h') {
			out << kUsage;
			return kExitOk;
		}
		err << kUsage;
		return kExitUsage;
	}
	if (optind != argc - 2) {
		err << kUsage;
		return kExitUsage;
	}
	for (int k = 0; k < 2; k++) {
		std::string text;

		if (!read_text(argv[optind + k], text, err, "cow_delta"))
			return kExitUsage;
		try {
			cowmeta::parse_dump(text, d[k]);
		} catch (const cowmeta::json_error &e) {
			err << "cow_delta: " << argv[optind + k] << ": " << e.what() << "\n";
			return kExitUsage;
		}
	}
	if (d[0].d.sb.array_uuid != d[1].d.sb.array_uuid)
		out << "note: the dumps are of different arrays\n";

	// Breakpoints: every run start and end of both dumps.
	std::vector<uint64_t> pts;
	for (int k = 0; k < 2; k++)
		for (const cowmeta::mapping_run &r : d[k].d.runs) {
			pts.push_back(r.origin_chunk);
			pts.push_back(r.origin_chunk + r.length);
		}
	std::sort(pts.begin(), pts.end());
	pts.erase(std::unique(pts.begin(), pts.end()), pts.end());

	std::vector<seg> segs;
	size_t i1 = 0, i2 = 0;
	for (size_t p = 0; p + 1 < pts.size(); p++) {
		uint64_t a = pts[p], len = pts[p + 1] - a;
		const cowmeta::mapping_run *r1 = cover(d[0].d.runs, i1, a);
		const cowmeta::mapping_run *r2 = cover(d[1].d.runs, i2, a);
		uint64_t s1 = r1 ? r1->slot + (a - r1->origin_chunk) : 0;
		uint64_t s2 = r2 ? r2->slot + (a - r2->origin_chunk) : 0;
		char kind = r1 && r2 ? (s1 == s2 ? '=' : '~') : r1 ? '-' : r2 ? '+' : ' ';

		if (kind == '=' || kind == ' ')
			continue;
		if (!segs.empty()) {
			seg &l = segs.back();

			if (l.kind == kind && l.chunk + l.len == a && l.s1 + l.len == s1 &&
			    l.s2 + l.len == s2) {
				l.len += len;
				continue;
			}
		}
		segs.push_back({kind, a, len, s1, s2});
	}
	auto range = [](uint64_t a, uint64_t n) {
		return n == 1 ? std::to_string(a) : cowmeta::strf("%" PRIu64 "-%" PRIu64, a, a + n - 1);
	};
	for (const seg &s : segs) {
		out << s.kind << " chunks " << range(s.chunk, s.len) << "  slots ";
		if (s.kind == '+')
			out << range(s.s2, s.len) << "\n";
		else if (s.kind == '-')
			out << range(s.s1, s.len) << "\n";
		else
			out << range(s.s1, s.len) << " -> " << range(s.s2, s.len) << "\n";
	}
	return segs.empty() ? kExitOk : kExitNonFatal;
}

}  // namespace cowtools
