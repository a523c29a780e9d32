// delta.cc - cow_delta: compare the mappings of two JSON dumps.
#include <algorithm>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_delta", "[options] DUMP1 DUMP2",
	"Compare the chunk mappings of two JSON dumps (\"-\" = stdin for one):\n"
	"  - chunks A-B  slots S-T         mapped only in DUMP1\n"
	"  + chunks A-B  slots S-T         mapped only in DUMP2\n"
	"  ~ chunks A-B  slots S-T -> U-V  mapped to other slots\n"
	"A zero chunk (format 2) is written data whose content is zeros; it has\n"
	"no slot and shows as \"zero\" where the slots would be:\n"
	"  + chunks A-B  zero              zero chunks only in DUMP2\n"
	"  ~ chunks A-B  slots S-T -> zero in slots in DUMP1, zero chunks in DUMP2\n"
	"A partial chunk (format 2) is compared by sub-chunks: only the sub-chunks\n"
	"whose data is in a slot (or of a zero chunk) count as mapped (the others\n"
	"read the origin):\n"
	"  + chunk C sub I-J  slot S       sub-chunks I-J in a slot only in DUMP2\n"
	"Clean chunks (copies of the origin's that copy-on-read keeps) are not\n"
	"written data: they are left out, as if not mapped.\n"
	"JSON: an array of {\"change\": \"-\"|\"+\"|\"~\", \"chunk\", \"chunks\", \"slot\",\n"
	"\"new_slot\"} (slot: in DUMP1, new_slot: in DUMP2, where in a slot;\n"
	"\"zero\": true and \"new_zero\": true instead where a zero chunk), with\n"
	"\"subchunk\" and \"subchunks\" for a range of sub-chunks of one chunk.",
	"Exit: 0 same mappings, 1 different, 3 usage error, bad dump or write error.\n",
	kFormat | kOutput, false, 2, 2,
};

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

// The "slot" of a zero chunk (format 2): written data, all zeros, in no
// slot.  Zero chunks of one run all have it.
constexpr uint64_t kZero = UINT64_MAX;

// Chunk @c's slot in run @r (mapped or zero), 0 if @r is null.
uint64_t slot_in(const cowmeta::mapping_run *r, uint64_t c)
{
	return !r ? 0 : r->zero ? kZero : r->slot + (c - r->origin_chunk);
}

struct seg {
	char kind;
	uint64_t chunk, len, s1, s2;	// s1, s2: first slot or kZero
	unsigned sub = 0, subs = 0;	// sub-chunks sub.. of one chunk; 0: whole
};

char change(bool in1, bool in2, uint64_t s1, uint64_t s2)
{
	return in1 && in2 ? (s1 == s2 ? '=' : '~') : in1 ? '-' : in2 ? '+' : ' ';
}

// Do slots (or zero chunks) from @next continue a run of @len from @prev?
bool continues(uint64_t prev, uint64_t len, uint64_t next)
{
	return prev == kZero ? next == kZero : next != kZero && prev + len == next;
}

// Chunk @c, mapped by @r1 and/or @r2 (one of them partial), compared
// sub-chunk by sub-chunk: a sub-chunk counts as mapped where its data is
// in the slot.  @exist: the sub-chunks of @c.
void compare_subchunks(std::vector<seg> &segs, uint64_t c, uint16_t exist,
		       const cowmeta::mapping_run *r1, const cowmeta::mapping_run *r2)
{
	uint64_t s1 = slot_in(r1, c), s2 = slot_in(r2, c);
	// A zero chunk's sub-chunks are all written (zeros); missing is 0.
	auto kind = [&](unsigned i) {
		return change(r1 && !(r1->missing >> i & 1), r2 && !(r2->missing >> i & 1), s1, s2);
	};

	for (unsigned i = 0; i < cowmeta::kSubchunks && (exist >> i & 1);) {
		char k = kind(i);
		unsigned j = i + 1;

		while (j < cowmeta::kSubchunks && (exist >> j & 1) && kind(j) == k)
			j++;
		if (k != '=' && k != ' ')
			segs.push_back({k, c, 1, s1, s2, i, j - i});
		i = j;
	}
}

}  // namespace

int cmd_delta(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	cowmeta::dump_collector d[2];
	common_options co;
	std::vector<std::string> args;
	int rc = parse_command_line(kInfo, {}, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	for (int k = 0; k < 2; k++) {
		std::string text;

		if (!read_text(args[static_cast<size_t>(k)], text, err, "cow_delta"))
			return kExitUsage;
		try {
			cowmeta::parse_dump(text, d[k]);
		} catch (const cowmeta::json_error &e) {
			err << "cow_delta: " << args[static_cast<size_t>(k)] << ": " << e.what() << "\n";
			return kExitUsage;
		}
	}
	if (d[0].d.sb.array_uuid != d[1].d.sb.array_uuid && !co.quiet)
		err << "cow_delta: note: the dumps are of different arrays\n";
	// Clean chunks read as the origin: no written data to compare.
	for (int k = 0; k < 2; k++) {
		std::vector<cowmeta::mapping_run> &runs = d[k].d.runs;

		runs.erase(std::remove_if(runs.begin(), runs.end(),
					  [](const cowmeta::mapping_run &r) { return r.clean; }),
			   runs.end());
	}

	// Breakpoints: every run start and end of both dumps.
	std::vector<uint64_t> pts;
	for (int k = 0; k < 2; k++)
		for (const cowmeta::mapping_run &r : d[k].d.runs) {
			pts.push_back(r.origin_chunk);
			pts.push_back(r.origin_chunk + r.length);
		}
	std::sort(pts.begin(), pts.end());
	pts.erase(std::unique(pts.begin(), pts.end()), pts.end());

	// The sub-chunks of each chunk (of either dump's geometry).
	cowmeta::geometry g[2];
	for (int k = 0; k < 2; k++)
		cowmeta::sb_unpack_problems(d[k].d.sb, g[k]);
	auto exist = [&](uint64_t c) {
		uint16_t e = static_cast<uint16_t>(g[0].subchunks(c) | g[1].subchunks(c));

		return e ? e : static_cast<uint16_t>(0xffff);
	};

	std::vector<seg> segs;
	size_t i1 = 0, i2 = 0;
	for (size_t p = 0; p + 1 < pts.size(); p++) {
		uint64_t a = pts[p], len = pts[p + 1] - a;
		const cowmeta::mapping_run *r1 = cover(d[0].d.runs, i1, a);
		const cowmeta::mapping_run *r2 = cover(d[1].d.runs, i2, a);
		uint64_t s1 = slot_in(r1, a), s2 = slot_in(r2, a);
		char kind = change(r1, r2, s1, s2);

		if ((r1 && r1->missing) || (r2 && r2->missing)) {
			for (uint64_t c = a; c < a + len; c++)
				compare_subchunks(segs, c, exist(c), r1, r2);
			continue;
		}
		if (kind == '=' || kind == ' ')
			continue;
		if (!segs.empty()) {
			seg &l = segs.back();

			if (l.kind == kind && !l.subs && l.chunk + l.len == a &&
			    continues(l.s1, l.len, s1) && continues(l.s2, l.len, s2)) {
				l.len += len;
				continue;
			}
		}
		segs.push_back({kind, a, len, s1, s2, 0, 0});
	}
	auto range = [](uint64_t a, uint64_t n) {
		return n == 1 ? std::to_string(a) : cowmeta::strf("%" PRIu64 "-%" PRIu64, a, a + n - 1);
	};
	output_file of(out, co.output);
	std::ostream &o = of.stream();
	if (co.json) {
		const char *sep = "\n";

		o << "[";
		for (const seg &s : segs) {
			o << sep << "  {\"change\": \"" << s.kind << "\", \"chunk\": " << s.chunk
			  << ", \"chunks\": " << s.len;
			if (s.subs)
				o << ", \"subchunk\": " << s.sub << ", \"subchunks\": " << s.subs;
			if (s.kind != '+')
				o << (s.s1 == kZero ? ", \"zero\": true" :
				      ", \"slot\": " + std::to_string(s.s1));
			if (s.kind != '-')
				o << (s.s2 == kZero ? ", \"new_zero\": true" :
				      ", \"new_slot\": " + std::to_string(s.s2));
			o << "}";
			sep = ",\n";
		}
		o << (segs.empty() ? "]\n" : "\n]\n");
	}
	// "slots S-T" (a sub-chunk range: "slot S"), or "zero".
	auto where = [&](const seg &s, uint64_t slot, bool with_word) {
		if (slot == kZero)
			return std::string("zero");
		return std::string(with_word ? s.subs ? "slot " : "slots " : "") +
		       (s.subs ? std::to_string(slot) : range(slot, s.len));
	};
	for (const seg &s : segs) {
		if (co.json || co.quiet)
			break;
		if (s.subs)
			o << s.kind << " chunk " << s.chunk << " sub " << range(s.sub, s.subs) << "  ";
		else
			o << s.kind << " chunks " << range(s.chunk, s.len) << "  ";
		if (s.kind == '+')
			o << where(s, s.s2, true) << "\n";
		else if (s.kind == '-')
			o << where(s, s.s1, true) << "\n";
		else	// "slots S-T -> U-V", "slots S-T -> zero", "zero -> slots U-V"
			o << where(s, s.s1, true) << " -> "
			  << where(s, s.s2, s.s1 == kZero) << "\n";
	}
	if (!of.close(err, "cow_delta"))
		return kExitUsage;
	return segs.empty() ? kExitOk : kExitNonFatal;
}

}  // namespace cowtools
