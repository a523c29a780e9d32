// subchunk_test.cc - format 2 (sub-chunk validity): leaf entries whose bits
// 48-63 name the sub-chunks of a mapped chunk that are not in its slot.
// The rules (md-cow_p.h, the kernel's cow_node_check), the checker's
// finding for each invalid case, cow_map's and cow_delta's partial-chunk
// output, the dump/restore round trip, the salvage of invalid bits and
// cow-metaedit's format 2 edits.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <sstream>

#include "cowmeta/checker.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/node.h"
#include "cowmeta/strf.h"
#include "image.h"
#include "run_cmd.h"
#include "views.h"

using namespace cowmeta;
using cowtest::check_of;
using cowtest::json_of;
using cowtest::dump_of;
using cowtest::outcome;
using cowtest::run;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::temp_file;

namespace {

// 64 MiB, 64 KiB chunks (sub-chunks of 8 sectors, 4 KiB), format 2.
sim_params f2(uint32_t chunk_sectors = 128)
{
	sim_params p;

	p.format2 = true;
	p.chunk_sectors = chunk_sectors;
	return p;
}

// The last chunk (1023) is 40 sectors: sub-chunks 0-4 exist.
sim_params f2_short_last()
{
	sim_params p = f2();

	p.array_sectors = 1023 * 128 + 40;
	return p;
}

// Chunks 0-9 whole; 10 with sub-chunks 0-3 written; 11 and 12 with 8-15
// written; 20 partial in the first commit, whole in the second.
sim_array partial_image(const sim_params &p = f2())
{
	sim_array s(p);

	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.write(10, 0xfff0);
	s.write(11, 0x00ff);
	s.write(12, 0x00ff);
	s.write(20, 0x0f0f);
	s.commit();
	s.write(20);
	s.commit();
	return s;
}

#define EXPECT_FINDING(r, text, kind)                                             \
	do {                                                                      \
		EXPECT_TRUE((r).has(damage::kind)) << (text);                     \
		EXPECT_EQ((r).worst, severity::fatal) << (text);                  \
	} while (0)

}  // namespace

// ---- the format ----

TEST(Subchunk, LeafEntryHelpers)
{
	uint64_t e = leaf_make(5, 0x8001);

	EXPECT_EQ(e, 6ULL | 0x8001ULL << 48);
	EXPECT_EQ(leaf_slot(e), 5U);
	EXPECT_EQ(leaf_missing(e), 0x8001);
	EXPECT_EQ(leaf_make(5, 0), 6U);
	EXPECT_EQ(kLeafMissingMask, 0xffff000000000000ULL);
	EXPECT_EQ(format_of(0), 1U);
	EXPECT_EQ(format_of(kIncompatSubchunk), 2U);
	EXPECT_EQ(kIncompatSupp & kIncompatSubchunk, kIncompatSubchunk);
}

TEST(Subchunk, Geometry)
{
	sim_array s(f2_short_last());
	superblock sb = s.sb();
	geometry g;

	EXPECT_TRUE(sb_unpack_problems(sb, g).empty());
	EXPECT_EQ(g.format, 2U);
	EXPECT_EQ(g.sub_sectors, 8U);
	EXPECT_EQ(g.subchunks(0), 0xffff);
	EXPECT_EQ(g.subchunks(1022), 0xffff);
	EXPECT_EQ(g.subchunks(1023), 0x001f);	// 40 sectors: 5 sub-chunks
	sb.array_sectors = sb.origin_sectors = 1023 * 128 + 8;
	sb_unpack_problems(sb, g);
	EXPECT_EQ(g.subchunks(1023), 0x0001);

	sb.chunk_sectors = 8;	// 4 KiB chunks: no sub-chunks
	sb_unpack_problems(sb, g);
	EXPECT_EQ(g.sub_sectors, 0U);
	EXPECT_EQ(g.subchunks(3), 0);
	sb.chunk_sectors = 16;	// 8 KiB: sub-chunks of one sector
	sb.array_sectors = sb.origin_sectors = 64 * 2048;
	sb_unpack_problems(sb, g);
	EXPECT_EQ(g.sub_sectors, 1U);
	EXPECT_EQ(g.subchunks(3), 0xffff);
	sb.incompat = 0;	// format 1
	sb_unpack_problems(sb, g);
	EXPECT_EQ(g.format, 1U);
	EXPECT_EQ(g.subchunks(3), 0);
}

TEST(Subchunk, LeafMissingCheck)
{
	sim_array s(f2_short_last());
	geometry g;

	sb_unpack_problems(s.sb(), g);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0), 7, g), missing_fault::none);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0x7ffe), 7, g), missing_fault::none);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0xffff), 7, g), missing_fault::all_missing);
	EXPECT_EQ(leaf_missing_check(1ULL << 48, 7, g), missing_fault::no_slot);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0x0018), 1023, g), missing_fault::none);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0x0020), 1023, g), missing_fault::past_end);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0x001f), 1023, g), missing_fault::all_missing);

	superblock sb = s.sb();
	sb.chunk_sectors = 8;
	sb_unpack_problems(sb, g);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 1), 7, g), missing_fault::small_chunk);
	sb = s.sb();
	sb.incompat = 0;
	sb_unpack_problems(sb, g);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 1), 7, g), missing_fault::reserved);
	EXPECT_EQ(leaf_missing_check(leaf_make(3, 0), 7, g), missing_fault::none);
}

// ---- cow_check ----

TEST(SubchunkCheck, Format2Clean)
{
	sim_array s = partial_image();
	std::string text;
	check_result r = check_of(s.dev(), &text);

	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.format, 2U);
	EXPECT_TRUE(r.map_read);
	EXPECT_EQ(r.mapped_chunks, 14U);
	EXPECT_EQ(r.partial_chunks, 3U);
	EXPECT_EQ(r.missing_subchunks, 12U + 8 + 8);
	EXPECT_NE(text.find("format 2: chunks are mapped in 16 sub-chunks of 8 sectors"),
		  std::string::npos) << text;
	EXPECT_NE(text.find("3 partial chunks (28 sub-chunks still read from the origin)"),
		  std::string::npos) << text;
}

TEST(SubchunkCheck, Format1Summary)
{
	sim_array s = cowtest::cli_standard();
	std::string text;
	check_result r = check_of(s.dev(), &text);

	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.format, 1U);
	EXPECT_EQ(r.partial_chunks, 0U);
	EXPECT_NE(text.find("format 1: chunks are mapped whole"), std::string::npos) << text;
	EXPECT_EQ(text.find("partial chunks"), std::string::npos) << text;
}

TEST(SubchunkCheck, Format2WithoutPartialChunksAndSmallChunks)
{
	sim_params p = f2(8);	// 4 KiB chunks have no sub-chunks
	sim_array s(p);
	std::string text;

	s.write(1);
	s.write(2);
	s.commit();
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_NE(text.find("format 2: chunks below 16 sectors have no sub-chunks"),
		  std::string::npos) << text;
}

TEST(SubchunkCheck, PartialLastChunkValid)
{
	sim_array s(f2_short_last());
	std::string text;

	s.write(1023, 0x0018);	// sub-chunks 0-2 written, 3-4 not
	s.write(1022, 0x8000);
	s.commit();
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.partial_chunks, 2U);
}

TEST(SubchunkCheck, JsonReportsFormatAndPartialChunks)
{
	sim_array s = partial_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_check", "-f", "json", dev.path()});

	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("\"needs_check\": false, \"format\": 2}"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"chunks\": {\"mapped\": 14, \"partial\": 3, \"missing_subchunks\": 28,"
			     " \"zero\": 0, \"clean\": 0}"),
		  std::string::npos) << o.out;
}

TEST(SubchunkCheckDamage, AllSubchunksMissing)
{
	sim_array s = partial_image();
	std::string text;

	s.edit_node(0, 0, [](node &n) { n.entries[5] |= 0xffffULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_missing_bits);
	EXPECT_NE(text.find("error: map entry for chunk 5 has invalid missing sub-chunks 0xffff:"
			    " no sub-chunk in the slot"), std::string::npos) << text;
	EXPECT_FALSE(r.has(damage::entry_reserved_bits)) << text;
}

TEST(SubchunkCheckDamage, AllExistingSubchunksOfTheLastChunkMissing)
{
	sim_array s(f2_short_last());
	std::string text;

	s.write(1023);
	s.commit();
	s.edit_node(0, 2, [](node &n) { n.entries[1023 - 1014] |= 0x001fULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_missing_bits);
	EXPECT_NE(text.find("no sub-chunk in the slot"), std::string::npos) << text;
}

TEST(SubchunkCheckDamage, SubchunkPastTheEnd)
{
	sim_array s(f2_short_last());
	std::string text;

	s.write(1023);
	s.commit();
	s.edit_node(0, 2, [](node &n) { n.entries[1023 - 1014] |= 0x0021ULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_missing_bits);
	EXPECT_NE(text.find("missing sub-chunks past the end of the array"), std::string::npos) << text;
}

TEST(SubchunkCheckDamage, ChunkTooSmall)
{
	sim_array s(f2(8));
	std::string text;

	s.write(3);
	s.commit();
	s.edit_node(0, 0, [](node &n) { n.entries[3] |= 1ULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_missing_bits);
	EXPECT_NE(text.find("in a chunk too small to have any"), std::string::npos) << text;
}

TEST(SubchunkCheckDamage, MissingBitsWithoutSlot)
{
	sim_array s = partial_image();
	std::string text;

	s.edit_node(0, 0, [](node &n) { n.entries[5] = 0x0001ULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_missing_bits);
	EXPECT_NE(text.find("missing sub-chunks without a slot"), std::string::npos) << text;
}

TEST(SubchunkCheckDamage, Format1HasNoSubchunks)
{
	sim_array s = partial_image();
	std::string text;

	// The array back at format 1 with format 2 entries: reserved bits.
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = 0; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_FINDING(r, text, entry_reserved_bits);
	EXPECT_FALSE(r.has(damage::entry_missing_bits)) << text;
	EXPECT_EQ(r.format, 1U);
}

TEST(SubchunkCheckDamage, ReportedInJson)
{
	sim_array s = partial_image();

	s.edit_node(0, 0, [](node &n) { n.entries[5] |= 0xffffULL << 48; });
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_check", "-f", "json", dev.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.out.find("{\"kind\": \"entry_missing_bits\", \"severity\": \"fatal\","
			     " \"location\": {\"section\": \"chunk map\", \"chunk\": 5}"),
		  std::string::npos) << o.out;
}

// ---- dump and restore ----

TEST(SubchunkDump, RunsKeepTheMissingBits)
{
	sim_array s = partial_image();
	metadata_dump d = dump_of(s.dev());
	uint64_t s10 = s.slot_of(10), s11 = s.slot_of(11);

	EXPECT_EQ(d.sb.incompat, kIncompatSubchunk);
	std::vector<mapping_run> want = {
		{0, s.slot_of(0), 1, 0},	// the first metadata unit follows
		{1, s.slot_of(1), 9, 0},
		{10, s10, 1, 0xfff0},
		{11, s11, 2, 0x00ff},	// equal bits, next slots: one run
		{20, s.slot_of(20), 1, 0},
	};
	EXPECT_EQ(d.runs, want);
}

TEST(SubchunkDump, JsonVersion2AndMissingKey)
{
	sim_array s = partial_image();
	std::string j = json_of(dump_of(s.dev()));

	EXPECT_NE(j.find("\"version\": 2,"), std::string::npos) << j;
	EXPECT_NE(j.find("\"incompat\": 1,"), std::string::npos) << j;
	EXPECT_NE(j.find(strf("{\"origin_chunk\": 10, \"slot\": %" PRIu64
			      ", \"length\": 1, \"missing\": 65520}", s.slot_of(10))),
		  std::string::npos) << j;
	EXPECT_NE(j.find(strf("{\"origin_chunk\": 1, \"slot\": %" PRIu64 ", \"length\": 9}",
			      s.slot_of(1))), std::string::npos) << j;

	// Format 1: version 1, no "missing" (unchanged).
	sim_array t = cowtest::cli_standard();
	std::string k = json_of(dump_of(t.dev()));
	EXPECT_NE(k.find("\"version\": 1,"), std::string::npos) << k;
	EXPECT_EQ(k.find("missing"), std::string::npos) << k;
}

TEST(SubchunkDump, DumpRestoreRoundTrip)
{
	sim_array s = partial_image(f2_short_last());
	s.write(1023, 0x0018);
	s.commit();
	temp_file dev(s.dev().bytes());
	dump_collector a, b;
	cowtest::dump_restore_dump(dev.path(), a, b);
	if (HasFatalFailure())
		return;
	EXPECT_EQ(a.d.runs, b.d.runs);
	EXPECT_EQ(b.d.sb.incompat, kIncompatSubchunk);
	EXPECT_EQ(b.d.runs.back().origin_chunk, 1023U);
	EXPECT_EQ(b.d.runs.back().missing, 0x0018);
	EXPECT_EQ(run({"cow_check", dev.path()}).rc, 0);

	// The leaf entries on the device carry the bits.
	cowmeta::memory_device img(dev.bytes().size(), "restored");
	img.bytes() = dev.bytes();
	check_result c = check_of(img);
	EXPECT_EQ(c.partial_chunks, 4U);
	EXPECT_EQ(c.format, 2U);
}

TEST(SubchunkDump, HumanShowsPartialRuns)
{
	sim_array s = partial_image();
	temp_file dev(s.dev().bytes());
	outcome h = run({"cow_dump", "-f", "human", dev.path()});

	EXPECT_EQ(h.rc, 0) << h.err;
	EXPECT_NE(h.out.find("incompat 1 (format 2)"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("  missing sub-chunks 0xfff0\n"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("14 chunks mapped in 5 runs, 3 of them partial\n"), std::string::npos)
		<< h.out;
}

namespace {

// A minimal dump: one run of chunk @chunk with @missing.
std::string small_dump(uint64_t version, uint64_t incompat, uint32_t chunk_sectors,
		       uint64_t array_sectors, uint64_t chunk, uint64_t missing)
{
	return strf("{\"format\": \"md-cow-dump\", \"version\": %" PRIu64 ", \"superblock\": {"
		    "\"seq\": 5, \"flags\": 1, \"incompat\": %" PRIu64 ", \"array_uuid\":"
		    " \"00112233-4455-6677-8899-aabbccddeeff\", \"array_sectors\": %" PRIu64 ","
		    " \"chunk_sectors\": %u, \"data_start\": 16}, \"mappings\": ["
		    "{\"origin_chunk\": %" PRIu64 ", \"slot\": 0, \"length\": 1, \"missing\": %" PRIu64
		    "}]}", version, incompat, array_sectors, chunk_sectors, chunk, missing);
}

std::string parse_error(const std::string &text)
{
	dump_collector c;

	try {
		parse_dump(text, c);
	} catch (const json_error &e) {
		return e.what();
	}
	return "";
}

}  // namespace

TEST(SubchunkDump, ParserAppliesTheRules)
{
	const uint64_t as = 131072, short_as = 1023 * 128 + 40;

	EXPECT_EQ(parse_error(small_dump(2, 1, 128, as, 3, 1)), "");
	EXPECT_EQ(parse_error(small_dump(1, 1, 128, as, 3, 1)), "");	// version 1 reads too
	EXPECT_EQ(parse_error(small_dump(2, 1, 128, short_as, 1023, 0x18)), "");
	EXPECT_NE(parse_error(small_dump(2, 1, 128, as, 3, 0xffff)).find("no sub-chunk in the slot"),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(2, 0, 128, as, 3, 1)).find("format 1 has no sub-chunks"),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(2, 1, 8, as, 3, 1)).find("too small"), std::string::npos);
	EXPECT_NE(parse_error(small_dump(2, 1, 128, short_as, 1023, 0x20)).find("past the end"),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(2, 1, 128, short_as, 1023, 0x1f)).find("no sub-chunk"),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(2, 1, 128, as, 3, 65536)).find("16 bits"), std::string::npos);
	EXPECT_NE(parse_error(small_dump(4, 1, 128, as, 3, 1)).find("unsupported dump version"),
		  std::string::npos);

	// Runs with different bits are not merged; runs with the same are.
	std::string two = strf("{\"format\": \"md-cow-dump\", \"version\": 2, \"superblock\": {"
			       "\"seq\": 5, \"flags\": 1, \"incompat\": 1, \"array_uuid\":"
			       " \"00112233-4455-6677-8899-aabbccddeeff\", \"array_sectors\": 131072,"
			       " \"chunk_sectors\": 128, \"data_start\": 16}, \"mappings\": ["
			       "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 1, \"missing\": 2},"
			       "{\"origin_chunk\": 4, \"slot\": 1, \"length\": 1, \"missing\": 2},"
			       "{\"origin_chunk\": 5, \"slot\": 2, \"length\": 1}]}");
	dump_collector c;
	parse_dump(two, c);
	std::vector<mapping_run> want = {{3, 0, 2, 2}, {5, 2, 1, 0}};
	EXPECT_EQ(c.d.runs, want);
}

// ---- cow_map ----

namespace {

std::string map_line(uint64_t start, uint64_t len, const std::string &chunks, const std::string &to)
{
	return strf("0x%-16" PRIx64 " 0x%-16" PRIx64 " %-23s %s\n", start, len, chunks.c_str(),
		    to.c_str());
}

std::string dirty_to(sim_array &s, uint64_t chunk, unsigned sub)
{
	uint64_t off = 2048 * 512 + (s.sb().data_start + s.slot_of(chunk) * s.chunk_blocks()) * 4096 +
		       sub * 4096ULL;

	return strf("dirty 0x%" PRIx64 " (slot %" PRIu64 ")", off, s.slot_of(chunk));
}

}  // namespace

TEST(SubchunkMap, PartialChunkLines)
{
	sim_array s = partial_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_map", dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	// Whole chunks as before; chunk 10: sub-chunks 0-3 in its slot, 4-15
	// from the origin; 11 and 12: 0-7 from the origin, 8-15 in the slot.
	std::string want = strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to") +
		map_line(0, 0x10000, "0", dirty_to(s, 0, 0)) +
		map_line(0x10000, 0x90000, "1-9", dirty_to(s, 1, 0)) +
		map_line(0xa0000, 0x4000, "10 sub 0-3", dirty_to(s, 10, 0)) +
		map_line(0xa4000, 0xc000, "10 sub 4-15", "origin") +
		map_line(0xb0000, 0x8000, "11 sub 0-7", "origin") +
		map_line(0xb8000, 0x8000, "11 sub 8-15", dirty_to(s, 11, 8)) +
		map_line(0xc0000, 0x8000, "12 sub 0-7", "origin") +
		map_line(0xc8000, 0x8000, "12 sub 8-15", dirty_to(s, 12, 8)) +
		map_line(0xd0000, 0x70000, "13-19", "origin") +
		map_line(0x140000, 0x10000, "20", dirty_to(s, 20, 0)) +
		map_line(0x150000, 64 * 1048576 - 0x150000, "21-1023", "origin");
	EXPECT_EQ(o.out, want);

	outcome one = run({"cow_map", "-c", "11", dev.path()});
	EXPECT_EQ(one.out, strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to") +
		  map_line(0xb0000, 0x8000, "11 sub 0-7", "origin") +
		  map_line(0xb8000, 0x8000, "11 sub 8-15", dirty_to(s, 11, 8)));
	one = run({"cow_map", "-c", "5", dev.path()});
	EXPECT_EQ(one.out, strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to") +
		  map_line(0x50000, 0x10000, "5", dirty_to(s, 5, 0)));

	outcome j = run({"cow_map", "-f", "json", "-c", "10", dev.path()});
	uint64_t off = 2048 * 512 + (s.sb().data_start + s.slot_of(10) * s.chunk_blocks()) * 4096;
	EXPECT_EQ(j.out, strf("[\n  {\"start\": 655360, \"length\": 16384, \"chunk\": 10, \"chunks\": 1,"
			      " \"data\": \"dirty\", \"subchunk\": 0, \"subchunks\": 4, \"slot\": %" PRIu64
			      ", \"offset\": %" PRIu64 "},\n"
			      "  {\"start\": 671744, \"length\": 49152, \"chunk\": 10, \"chunks\": 1,"
			      " \"data\": \"origin\", \"subchunk\": 4, \"subchunks\": 12}\n]\n",
			      s.slot_of(10), off));
}

TEST(SubchunkMap, PartialLastChunk)
{
	sim_params p = f2_short_last();
	p.no_origin = true;
	sim_array s(p);
	s.write(1023, 0x0018);
	s.commit();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_map", "-c", "1023", dev.path()});

	EXPECT_EQ(o.out, strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to") +
		  map_line(1023 * 0x10000ULL, 0x3000, "1023 sub 0-2", dirty_to(s, 1023, 0)) +
		  map_line(1023 * 0x10000ULL + 0x3000, 0x2000, "1023 sub 3-4", "zero"));
}

// ---- cow_delta ----

TEST(SubchunkDelta, OnlySubchunksInTheSlotAreChanged)
{
	sim_array s(f2());
	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.commit();
	temp_file d1(json_of(dump_of(s.dev())));
	s.write(10, 0xfff0);		// sub-chunks 0-3
	s.commit();
	temp_file d2(json_of(dump_of(s.dev())));
	s.write(10, 0xff0f);		// and 4-7: missing 0xff00
	s.write(30);
	s.commit();
	temp_file d3(json_of(dump_of(s.dev())));
	uint64_t s10 = s.slot_of(10), s30 = s.slot_of(30);

	outcome o = run({"cow_delta", d1.path(), d2.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(o.out, strf("+ chunk 10 sub 0-3  slot %" PRIu64 "\n", s10));
	o = run({"cow_delta", d2.path(), d3.path()});
	EXPECT_EQ(o.out, strf("+ chunk 10 sub 4-7  slot %" PRIu64 "\n+ chunks 30  slots %" PRIu64 "\n",
			      s10, s30));
	o = run({"cow_delta", d3.path(), d2.path()});
	EXPECT_EQ(o.out, strf("- chunk 10 sub 4-7  slot %" PRIu64 "\n- chunks 30  slots %" PRIu64 "\n",
			      s10, s30));
	o = run({"cow_delta", d2.path(), d2.path()});
	EXPECT_EQ(o.rc, 0);
	EXPECT_EQ(o.out, "");
	o = run({"cow_delta", "-f", "json", d1.path(), d3.path()});
	EXPECT_EQ(o.out, strf("[\n  {\"change\": \"+\", \"chunk\": 10, \"chunks\": 1, \"subchunk\": 0,"
			      " \"subchunks\": 8, \"new_slot\": %" PRIu64 "},\n"
			      "  {\"change\": \"+\", \"chunk\": 30, \"chunks\": 1, \"new_slot\": %" PRIu64
			      "}\n]\n", s10, s30));
}

TEST(SubchunkDelta, OtherSlots)
{
	sim_array s(f2()), t(f2());

	s.write(10, 0x00ff);	// sub-chunks 8-15 written
	s.commit();
	t.write(9);
	t.write(10, 0x0fff);	// 12-15, in another slot
	t.commit();
	temp_file a(json_of(dump_of(s.dev()))), b(json_of(dump_of(t.dev())));
	outcome o = run({"cow_delta", a.path(), b.path()});

	// 8-11: in a slot only in the first; 12-15: in slots of both (others).
	EXPECT_EQ(o.out, strf("+ chunks 9  slots %" PRIu64 "\n"
			      "- chunk 10 sub 8-11  slot %" PRIu64 "\n"
			      "~ chunk 10 sub 12-15  slot %" PRIu64 " -> %" PRIu64 "\n",
			      t.slot_of(9), s.slot_of(10), s.slot_of(10), t.slot_of(10)));
}

// ---- cow_repair ----

TEST(SubchunkRepair, KeepsValidBits)
{
	sim_array s = partial_image();
	temp_file dev(s.dev().bytes());
	metadata_dump strict = dump_of(s.dev());
	read_result res;
	metadata_dump salvaged = dump_of(s.dev(), true, &res);

	EXPECT_EQ(salvaged.runs, strict.runs);
	EXPECT_EQ(res.fixed, 0U);
	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out << o.err;
	dump_collector after;
	parse_dump(run({"cow_dump", dev.path()}).out, after);
	EXPECT_EQ(after.d.runs, strict.runs);
	EXPECT_EQ(after.d.sb.incompat, kIncompatSubchunk);
}

TEST(SubchunkRepair, InvalidBits)
{
	sim_array s = partial_image(f2_short_last());
	s.write(1023);
	s.write(1022, 0x0001);
	s.commit();
	// Chunk 5: every sub-chunk missing (nothing in the slot): dropped.
	s.edit_node(0, 0, [](node &n) { n.entries[5] |= 0xffffULL << 48; });
	// Chunk 6: bits but no slot: dropped.
	s.edit_node(0, 0, [](node &n) { n.entries[6] = 0x0004ULL << 48; });
	// Chunk 1023 (sub-chunks 0-4): 5 and 6 past the end cleared, 0 kept.
	s.edit_node(0, 2, [](node &n) { n.entries[1023 - 1014] |= 0x0061ULL << 48; });
	// Chunk 1022 (valid bits 0x0001) and chunk 10 keep theirs.
	temp_file dev(s.dev().bytes());

	read_result res;
	metadata_dump d = dump_of(s.dev(), true, &res);
	EXPECT_EQ(res.dropped, 2U);
	EXPECT_EQ(res.fixed, 1U);
	std::map<uint64_t, uint16_t> got;
	for (const mapping_run &r : d.runs)
		for (uint64_t c = r.origin_chunk; c < r.origin_chunk + r.length; c++)
			got[c] = r.missing;
	EXPECT_EQ(got.count(5), 0U);
	EXPECT_EQ(got.count(6), 0U);
	EXPECT_EQ(got.at(1023), 0x0001);
	EXPECT_EQ(got.at(1022), 0x0001);
	EXPECT_EQ(got.at(10), 0xfff0);

	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 1) << o.out << o.err;
	EXPECT_NE(o.out.find("dropped: chunk 5 (entry 0xffff"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("has no sub-chunk in slot"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("repaired: chunk 1023: cleared the bits of sub-chunks past the end of the"
			     " array (missing 0x0061, now 0x0001)"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("1 entries kept with invalid sub-chunk bits cleared"), std::string::npos)
		<< o.out;
	outcome c = run({"cow_check", dev.path()});
	EXPECT_LT(c.rc, 2) << c.out;
	EXPECT_NE(run({"cow_map", "-c", "1023", dev.path()}).out.find("1023 sub 1-4"), std::string::npos);
}

TEST(SubchunkRepair, SmallChunkBitsCleared)
{
	sim_array s(f2(8));
	s.write(3);
	s.write(4);
	s.commit();
	s.edit_node(0, 0, [](node &n) { n.entries[3] |= 0x0003ULL << 48; });
	read_result res;
	metadata_dump d = dump_of(s.dev(), true, &res);

	EXPECT_EQ(res.dropped, 0U);
	EXPECT_EQ(res.fixed, 1U);
	std::vector<mapping_run> want = {{3, s.slot_of(3), 1, 0}, {4, s.slot_of(4), 1, 0}};
	EXPECT_EQ(d.runs, want);
}

TEST(SubchunkRepair, Format1BitsDropAsBefore)
{
	sim_array s = cowtest::cli_standard();
	s.edit_node(0, 0, [](node &n) { n.entries[0] |= 1ULL << 48; });
	read_result res;
	metadata_dump d = dump_of(s.dev(), true, &res);

	EXPECT_EQ(res.dropped, 1U);
	EXPECT_EQ(res.fixed, 0U);
	EXPECT_EQ(d.runs.front().origin_chunk, 1U);
}

// ---- cow-metaedit (the VM tests' metadata editor) ----

#ifdef COW_METAEDIT
namespace {

int metaedit(const std::string &dev, uint64_t block, const std::string &what,
	     const std::string &a, const std::string &v)
{
	std::string cmd = std::string(COW_METAEDIT) + " " + dev + " " + std::to_string(block) + " " +
			  what + " " + a + " " + v + " 2>/dev/null";
	int st = std::system(cmd.c_str());

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

check_result check_file(const temp_file &f, std::string *text = nullptr)
{
	std::vector<uint8_t> b = f.bytes();
	memory_device img(b.size(), "img");

	img.bytes() = b;
	return check_of(img, text);
}

}  // namespace

TEST(SubchunkMetaedit, BuildsFormat2AndHostileImages)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	const uint64_t base = 2048 / 8;	// the data area, in 4 KiB blocks
	uint64_t leaf = base + s.node_pair(0, 0) + static_cast<uint64_t>(s.node_copy(0, 0));
	std::string text;

	for (uint64_t c : {0, 1})
		ASSERT_EQ(metaedit(dev.path(), base + c, "sb", "format", "2"), 0);
	check_result r = check_file(dev, &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.format, 2U);

	ASSERT_EQ(metaedit(dev.path(), leaf, "missing", "7", "0xfff0"), 0);
	r = check_file(dev, &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.partial_chunks, 1U);

	// Hostile: every sub-chunk missing; then back at format 1; then an
	// unknown incompat bit.  The checksums stay valid: only the rules
	// refuse these.
	ASSERT_EQ(metaedit(dev.path(), leaf, "missing", "7", "0xffff"), 0);
	r = check_file(dev, &text);
	EXPECT_TRUE(r.has(damage::entry_missing_bits)) << text;
	EXPECT_FALSE(r.has(damage::node_bad_csum)) << text;
	ASSERT_EQ(metaedit(dev.path(), leaf, "missing", "7", "0x0001"), 0);
	for (uint64_t c : {0, 1})
		ASSERT_EQ(metaedit(dev.path(), base + c, "sb", "format", "1"), 0);
	r = check_file(dev, &text);
	EXPECT_TRUE(r.has(damage::entry_reserved_bits)) << text;
	EXPECT_EQ(r.format, 1U);
	ASSERT_EQ(metaedit(dev.path(), base + static_cast<uint64_t>(s.sb_copy()), "sb", "incompat",
			   "5"), 0);
	r = check_file(dev, &text);
	EXPECT_TRUE(r.has(damage::sb_incompat)) << text;

	// Usage errors: a mask above 16 bits, a relative mask, format 3.
	EXPECT_EQ(metaedit(dev.path(), leaf, "missing", "7", "0x10000"), 2);
	EXPECT_EQ(metaedit(dev.path(), leaf, "missing", "7", "+1"), 2);
	EXPECT_EQ(metaedit(dev.path(), base, "sb", "format", "3"), 2);
}
#endif

