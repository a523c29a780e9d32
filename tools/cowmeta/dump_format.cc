// dump_format.cc - JSON and human dump writers, JSON dump parser.
#include "cowmeta/dump_format.h"

#include <algorithm>
#include <functional>
#include <map>

#include "cowmeta/json_reader.h"
#include "cowmeta/node.h"
#include "cowmeta/strf.h"

namespace cowmeta {

std::string json_quote(const std::string &bytes)
{
	std::string out = "\"";

	for (unsigned char c : bytes) {
		if (c == '"' || c == '\\') {
			out.push_back('\\');
			out.push_back(static_cast<char>(c));
		} else if (c < 0x20 || c >= 0x7f) {
			out += strf("\\u%04x", c);
		} else {
			out.push_back(static_cast<char>(c));
		}
	}
	return out + "\"";
}

// ---- JSON writer ----

void json_emitter::begin(const superblock &sb)
{
	auto num = [&](const char *k, uint64_t v) { out_ << "    \"" << k << "\": " << v << ",\n"; };

	out_ << "{\n  \"format\": \"" << kDumpFormatName << "\",\n  \"version\": "
	     << dump_version_for(sb) << ",\n  \"superblock\": {\n";
	num("seq", sb.seq);
	num("compat", sb.compat);
	num("ro_compat", sb.ro_compat);
	num("incompat", sb.incompat);
	num("flags", sb.flags);
	out_ << "    \"array_uuid\": \"" << uuid_str(sb.array_uuid) << "\",\n";
	num("ctime", sb.ctime);
	num("utime", sb.utime);
	num("array_sectors", sb.array_sectors);
	num("chunk_sectors", sb.chunk_sectors);
	num("origin_sectors", sb.origin_sectors);
	num("origin_fp", sb.origin_fp);
	num("origin_fp_method", sb.origin_fp_method);
	out_ << "    \"origin_locator\": " << json_quote(sb.locator()) << ",\n";
	num("data_start", sb.data_start);
	num("dirty_blocks", sb.dirty_blocks);
	num("map_root", sb.map_root);
	num("map_depth", sb.map_depth);
	num("map_root_seq", sb.map_root_seq);
	num("alloc_next", sb.alloc_next);
	num("mapped_chunks", sb.mapped_chunks);
	num("meta_blocks", sb.meta_blocks);
	num("meta_unit", sb.meta_unit);
	out_ << "    \"meta_used\": " << sb.meta_used << "\n  }";
}

void json_emitter::emit_handoff(const handoff &h)
{
	out_ << ",\n  \"handoff\": {\n    \"array_uuid\": \"" << uuid_str(h.array_uuid)
	     << "\",\n    \"origin_major\": " << h.origin_major
	     << ",\n    \"origin_minor\": " << h.origin_minor
	     << ",\n    \"origin_sectors\": " << h.origin_sectors
	     << ",\n    \"utime\": " << h.utime << "\n  }";
}

void json_emitter::open_mappings()
{
	if (!in_mappings_) {
		out_ << ",\n  \"mappings\": [";
		in_mappings_ = true;
	}
}

void json_emitter::emit_run(const mapping_run &r)
{
	open_mappings();
	out_ << (any_run_ ? ",\n" : "\n") << "    {\"origin_chunk\": " << r.origin_chunk;
	// Zero chunks have no slot: a reader that does not know "zero"
	// misses "slot" and refuses the run instead of inventing one.
	if (!r.zero)
		out_ << ", \"slot\": " << r.slot;
	out_ << ", \"length\": " << r.length;
	if (r.missing)
		out_ << ", \"missing\": " << r.missing;
	if (r.zero)
		out_ << ", \"zero\": true";
	if (r.clean)
		out_ << ", \"clean\": true";
	out_ << "}";
	any_run_ = true;
}

void json_emitter::end()
{
	open_mappings();
	out_ << (any_run_ ? "\n  ]\n}\n" : "]\n}\n");
	out_.flush();
}

// ---- human writer ----

void human_emitter::begin(const superblock &sb)
{
	out_ << "cow metadata, seq " << sb.seq << "\n"
	     << "  array uuid      " << uuid_str(sb.array_uuid) << "\n"
	     << "  array size      " << sb.array_sectors << " sectors, "
	     << sb.chunk_sectors / 2 << " KiB chunks\n";
	if (sb.has_origin())
		out_ << "  origin          " << sb.origin_sectors << " sectors, fingerprint "
		     << strf("%08x", sb.origin_fp) << ", locator '" << sb.locator() << "'\n";
	else
		out_ << "  origin          none (unwritten chunks read as zeros)\n";
	out_ << "  flags           " << strf("0x%" PRIx64, sb.flags)
	     << ((sb.flags & kFlagNeedsCheck) ? " (needs check)" : "")
	     << ((sb.flags & kFlagHydrate) ? " (hydrating)" : "")
	     << ((sb.flags & kFlagCache) ? " (copy-on-read)" : "") << "\n"
	     << "  features        compat " << sb.compat << ", ro_compat " << sb.ro_compat
	     << ", incompat " << sb.incompat << " (format " << format_of(sb.incompat)
	     << ((sb.incompat & kIncompatClean) ? ", clean chunks" : "") << ")\n"
	     << "  data start      block " << sb.data_start << "\n"
	     << "  slots allocated " << sb.alloc_next << "\n"
	     << "  mapped chunks   " << sb.mapped_chunks << "\n"
	     << "  map             depth " << sb.map_depth << ", root block " << sb.map_root
	     << " (commit " << sb.map_root_seq << "), " << sb.meta_blocks << " metadata blocks\n";
}

void human_emitter::emit_handoff(const handoff &h)
{
	out_ << "  handoff         origin " << h.origin_major << ":" << h.origin_minor << ", "
	     << h.origin_sectors << " sectors\n";
}

void human_emitter::emit_run(const mapping_run &r)
{
	if (!header_) {
		out_ << "\n  origin chunks               slots                       length\n";
		header_ = true;
	}
	out_ << strf("  %-27s %-27s %" PRIu64,
		     strf("%" PRIu64 "-%" PRIu64, r.origin_chunk, r.origin_chunk + r.length - 1).c_str(),
		     r.zero ? "zero (no slot)" :
		     strf("%" PRIu64 "-%" PRIu64, r.slot, r.slot + r.length - 1).c_str(), r.length);
	if (r.zero)
		zero_ += r.length;
	if (r.missing) {
		out_ << strf("  missing sub-chunks 0x%04x", r.missing);
		partial_ += r.length;
	}
	if (r.clean) {
		out_ << "  clean (copies of the origin's)";
		clean_ += r.length;
	}
	out_ << "\n";
	runs_++;
	chunks_ += r.length;
}

void human_emitter::end()
{
	out_ << "\n" << chunks_ << " chunks mapped in " << runs_ << " runs";
	if (partial_)
		out_ << ", " << partial_ << " of them partial";
	if (zero_)
		out_ << ", " << zero_ << " zero chunks";
	if (clean_)
		out_ << ", " << clean_ << " clean chunks";
	out_ << "\n";
	out_.flush();
}

// ---- parser ----

namespace {

void read_fields(json_reader &j, const char *what,
		 const std::map<std::string, std::function<void()>> &fields,
		 const std::vector<std::string> &required)
{
	std::string key;
	std::vector<std::string> seen;

	j.begin_object();
	while (j.next_key(key)) {
		auto it = fields.find(key);

		if (std::find(seen.begin(), seen.end(), key) != seen.end())
			j.fail(std::string("duplicate key \"") + key + "\" in " + what);
		seen.push_back(key);
		if (it == fields.end())
			j.skip_value();	// unknown keys are ignored
		else
			it->second();
	}
	for (const std::string &r : required)
		if (std::find(seen.begin(), seen.end(), r) == seen.end())
			j.fail(std::string("missing \"") + r + "\" in " + what);
}

uint32_t u32(json_reader &j)
{
	uint64_t v = j.read_uint64();

	if (v > UINT32_MAX)
		j.fail("number does not fit in 32 bits");
	return static_cast<uint32_t>(v);
}

void read_uuid(json_reader &j, std::array<uint8_t, 16> &u)
{
	if (!parse_uuid(j.read_string(), u))
		j.fail("bad UUID");
}

void read_superblock(json_reader &j, superblock &sb)
{
	read_fields(j, "superblock", {
		{"seq", [&] { sb.seq = j.read_uint64(); }},
		{"compat", [&] { sb.compat = j.read_uint64(); }},
		{"ro_compat", [&] { sb.ro_compat = j.read_uint64(); }},
		{"incompat", [&] { sb.incompat = j.read_uint64(); }},
		{"flags", [&] { sb.flags = j.read_uint64(); }},
		{"array_uuid", [&] { read_uuid(j, sb.array_uuid); }},
		{"ctime", [&] { sb.ctime = j.read_uint64(); }},
		{"utime", [&] { sb.utime = j.read_uint64(); }},
		{"array_sectors", [&] { sb.array_sectors = j.read_uint64(); }},
		{"chunk_sectors", [&] { sb.chunk_sectors = u32(j); }},
		{"origin_sectors", [&] { sb.origin_sectors = j.read_uint64(); }},
		{"origin_fp", [&] { sb.origin_fp = u32(j); }},
		{"origin_fp_method", [&] { sb.origin_fp_method = u32(j); }},
		{"origin_locator", [&] {
			std::string l = j.read_string();

			if (l.size() >= kLocatorLen || l.find('\0') != std::string::npos)
				j.fail("origin_locator too long or with a NUL byte");
			sb.set_locator(l);
		}},
		{"data_start", [&] { sb.data_start = j.read_uint64(); }},
		{"dirty_blocks", [&] { sb.dirty_blocks = j.read_uint64(); }},
		{"map_root", [&] { sb.map_root = j.read_uint64(); }},
		{"map_depth", [&] { sb.map_depth = u32(j); }},
		{"map_root_seq", [&] { sb.map_root_seq = j.read_uint64(); }},
		{"alloc_next", [&] { sb.alloc_next = j.read_uint64(); }},
		{"mapped_chunks", [&] { sb.mapped_chunks = j.read_uint64(); }},
		{"meta_blocks", [&] { sb.meta_blocks = j.read_uint64(); }},
		{"meta_unit", [&] { sb.meta_unit = j.read_uint64(); }},
		{"meta_used", [&] { sb.meta_used = u32(j); }},
	}, {"seq", "flags", "array_uuid", "array_sectors", "chunk_sectors", "data_start"});
}

void read_handoff(json_reader &j, handoff &h)
{
	read_fields(j, "handoff", {
		{"array_uuid", [&] { read_uuid(j, h.array_uuid); }},
		{"origin_major", [&] { h.origin_major = u32(j); }},
		{"origin_minor", [&] { h.origin_minor = u32(j); }},
		{"origin_sectors", [&] { h.origin_sectors = j.read_uint64(); }},
		{"utime", [&] { h.utime = j.read_uint64(); }},
	}, {"array_uuid", "origin_major", "origin_minor"});
}

void read_mappings(json_reader &j, std::vector<mapping_run> &runs)
{
	j.begin_array();
	while (j.next_element()) {
		mapping_run r;
		bool have_slot = false;

		read_fields(j, "mapping", {
			{"origin_chunk", [&] { r.origin_chunk = j.read_uint64(); }},
			{"slot", [&] { r.slot = j.read_uint64(); have_slot = true; }},
			{"length", [&] { r.length = j.read_uint64(); }},
			{"missing", [&] {
				uint64_t m = j.read_uint64();

				if (m > UINT16_MAX)
					j.fail("\"missing\" does not fit in 16 bits");
				r.missing = static_cast<uint16_t>(m);
			}},
			{"zero", [&] { r.zero = j.read_bool(); }},
			{"clean", [&] { r.clean = j.read_bool(); }},
		}, {"origin_chunk", "length"});
		if (r.zero && (have_slot || r.missing))
			j.fail("a run of zero chunks has no \"slot\" and no \"missing\"");
		if (r.clean && (r.zero || r.missing))
			j.fail("a run of clean chunks has no \"missing\" and is not \"zero\"");
		if (!r.zero && !have_slot)
			j.fail("missing \"slot\" in mapping");
		runs.push_back(r);
	}
}

}  // namespace

std::string validate_dump(const metadata_dump &d)
{
	geometry geo;

	for (const sb_problem &p : sb_unpack_problems(d.sb, geo))
		if (p.kind == sb_problem::bad_chunk_size || p.kind == sb_problem::bad_array_size ||
		    p.kind == sb_problem::bad_data_start)
			return "superblock: " + p.msg;
	if (min_depth(geo.nr_chunks) > kMaxDepth)
		return "superblock: the array is too large for a chunk map";

	std::vector<std::pair<uint64_t, uint64_t>> slots;
	uint64_t next_chunk = 0;
	bool first = true;

	for (const mapping_run &r : d.runs) {
		uint64_t end;

		if (!r.length)
			return strf("mapping at chunk %" PRIu64 " has length 0", r.origin_chunk);
		if (!first && r.origin_chunk < next_chunk)
			return strf("mapping at chunk %" PRIu64 " is out of order or overlaps the previous one",
				    r.origin_chunk);
		if (__builtin_add_overflow(r.origin_chunk, r.length, &end) || end > geo.nr_chunks)
			return strf("mapping at chunk %" PRIu64 " runs past the end of the array (%" PRIu64
				    " chunks)", r.origin_chunk, geo.nr_chunks);
		if (r.zero) {
			// No slot: the leaf entries are kLeafZero.
			if (geo.format < 2)
				return strf("mapping at chunk %" PRIu64 ": zero chunks need format 2"
					    " (incompat bit 0)", r.origin_chunk);
			if (r.slot || r.missing || r.clean)
				return strf("mapping at chunk %" PRIu64 ": zero chunks have no slot and"
					    " no missing sub-chunks, and are not clean", r.origin_chunk);
			next_chunk = r.origin_chunk + r.length;
			first = false;
			continue;
		}
		// Slot + 1 must fit bits 0-47 and not be the zero chunk value.
		if (__builtin_add_overflow(r.slot, r.length, &end) || end >= kLeafSlotMask)
			return strf("mapping at chunk %" PRIu64 " has slots out of range", r.origin_chunk);
		if (r.clean) {
			// Leaf entries with all missing bits set: whole chunks.
			if (!geo.clean)
				return strf("mapping at chunk %" PRIu64 ": clean chunks need format 2 with"
					    " the clean chunks feature (incompat bits 0 and 1)",
					    r.origin_chunk);
			if (!d.sb.has_origin())
				return strf("mapping at chunk %" PRIu64 ": clean chunks need an origin"
					    " (flag bit 0 clear)", r.origin_chunk);
			if (r.missing)
				return strf("mapping at chunk %" PRIu64 ": clean chunks are whole (no"
					    " missing sub-chunks)", r.origin_chunk);
		}
		if (r.missing) {
			// Every chunk of the run but the array's last has all
			// sub-chunks: check the first and the last.
			uint64_t last = r.origin_chunk + r.length - 1;

			for (uint64_t c : {r.origin_chunk, last}) {
				missing_fault f = leaf_missing_check(leaf_make(r.slot + (c - r.origin_chunk),
									       r.missing), c, geo);

				if (f != missing_fault::none)
					return strf("mapping at chunk %" PRIu64 ": missing 0x%04x: %s%s",
						    c, r.missing, missing_fault_str(f),
						    f == missing_fault::reserved ?
						    " (format 1 has no sub-chunks)" : "");
			}
		}
		slots.emplace_back(r.slot, r.length);
		next_chunk = r.origin_chunk + r.length;
		first = false;
	}
	std::sort(slots.begin(), slots.end());
	for (size_t i = 1; i < slots.size(); i++)
		if (slots[i].first < slots[i - 1].first + slots[i - 1].second)
			return strf("slot %" PRIu64 " is used by more than one mapping", slots[i].first);
	return "";
}

void parse_dump(const std::string &text, emitter &e)
{
	json_reader j(text);
	metadata_dump d;
	std::string key, problem;
	bool have_format = false, have_version = false, have_sb = false, have_maps = false;

	j.begin_object();
	while (j.next_key(key)) {
		if (key == "format") {
			if (have_format || j.read_string() != kDumpFormatName)
				j.fail("not an md-cow dump (\"format\")");
			have_format = true;
		} else if (key == "version") {
			uint64_t v;

			if (have_version)
				j.fail("unsupported dump version");
			v = j.read_uint64();
			if (v != kDumpFormatVersion && v != kDumpFormatVersion2 &&
			    v != kDumpFormatVersion3)
				j.fail("unsupported dump version");
			have_version = true;
		} else if (key == "superblock") {
			if (have_sb)
				j.fail("duplicate superblock");
			read_superblock(j, d.sb);
			have_sb = true;
		} else if (key == "handoff") {
			if (d.ho)
				j.fail("duplicate handoff");
			if (j.peek() == json_reader::kind::null) {
				j.read_null();
			} else {
				d.ho = handoff();
				read_handoff(j, *d.ho);
			}
		} else if (key == "mappings") {
			if (have_maps)
				j.fail("duplicate mappings");
			read_mappings(j, d.runs);
			have_maps = true;
		} else {
			j.skip_value();
		}
	}
	j.expect_end();
	if (!have_format || !have_version || !have_sb || !have_maps)
		throw json_error("dump lacks \"format\", \"version\", \"superblock\" or \"mappings\"");
	problem = validate_dump(d);
	if (!problem.empty())
		throw json_error("invalid dump: " + problem);
	// Canonical runs: merge neighbours that continue each other.
	std::vector<mapping_run> runs;
	for (const mapping_run &r : d.runs) {
		if (!runs.empty()) {
			mapping_run &l = runs.back();

			if (l.continued_by(r)) {
				l.length += r.length;
				continue;
			}
		}
		runs.push_back(r);
	}
	d.runs.swap(runs);
	emit_dump(d, e);
}

void emit_dump(const metadata_dump &d, emitter &e)
{
	e.begin(d.sb);
	if (d.ho)
		e.emit_handoff(*d.ho);
	for (const mapping_run &r : d.runs)
		e.emit_run(r);
	e.end();
}

}  // namespace cowmeta
