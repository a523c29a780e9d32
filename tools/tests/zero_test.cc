// zero_test.cc - format 2 zero chunks and free slots.
//
// A zero chunk's leaf entry is kLeafZero (slot field all ones, no missing
// bits): the chunk reads as zeros and has no slot; mapped_chunks counts it.
// In format 1, or with missing bits, that entry is out of range.  Slots
// below alloc_next that hold neither chunk data nor map nodes are free in
// format 2 (the kernel hands them out again) and leaked in format 1.  The
// checker's findings and counts, the dump/restore round trip, cow_map,
// cow_delta, cow_rmap, cow_ls, the salvage and cow-metaedit's zero edit.
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
using cowtest::parse_error;
using cowtest::dump_of;
using cowtest::outcome;
using cowtest::run;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::temp_file;

namespace {

// 64 MiB, 64 KiB chunks (1024 chunks, map depth 2), format 2.
sim_params f2()
{
	sim_params p;

	p.format2 = true;
	return p;
}

// Chunks 0-9 written and committed; then chunk 5 zeroed (its slot is
// freed), chunk 7 discarded (its slot is freed), chunks 20-22 zeroed
// (never written) and committed.  Slots: chunk 0 in 0, the metadata unit
// in 1, chunks 1-9 in 2-10; 6 and 8 free.  12 chunks mapped, 4 of them
// zero chunks.
sim_array zero_image(const sim_params &p = f2())
{
	sim_array s(p);

	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.commit();
	s.zero(5);
	s.discard(7);
	for (uint64_t c = 20; c < 23; c++)
		s.zero(c);
	s.commit();
	return s;
}

// A minimal dump of a 64 MiB array of 64 KiB chunks with @mappings.
std::string small_dump(uint64_t incompat, const std::string &mappings)
{
	return strf("{\"format\": \"md-cow-dump\", \"version\": 2, \"superblock\": {"
		    "\"seq\": 5, \"flags\": 1, \"incompat\": %" PRIu64 ", \"array_uuid\":"
		    " \"00112233-4455-6677-8899-aabbccddeeff\", \"array_sectors\": 131072,"
		    " \"chunk_sectors\": 128, \"data_start\": 16}, \"mappings\": [%s]}",
		    incompat, mappings.c_str());
}

std::string map_header()
{
	return strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to");
}

std::string map_line(uint64_t start, uint64_t len, const std::string &chunks, const std::string &to)
{
	return strf("0x%-16" PRIx64 " 0x%-16" PRIx64 " %-23s %s\n", start, len, chunks.c_str(),
		    to.c_str());
}

std::string dirty_to(sim_array &s, uint64_t chunk)
{
	uint64_t off = 2048 * 512 + s.slot_block(s.slot_of(chunk)) * 4096;

	return strf("dirty 0x%" PRIx64 " (slot %" PRIu64 ")", off, s.slot_of(chunk));
}

}  // namespace

// ---- the format ----

TEST(Zero, LeafEntry)
{
	EXPECT_EQ(kLeafZero, 0x0000ffffffffffffULL);
	EXPECT_TRUE(leaf_is_zero(kLeafZero, 2));
	EXPECT_FALSE(leaf_is_zero(kLeafZero, 1));
	EXPECT_FALSE(leaf_is_zero(kLeafZero | 1ULL << 48, 2));
	EXPECT_FALSE(leaf_is_zero(leaf_make(5, 0), 2));
	EXPECT_FALSE(leaf_is_zero(0, 2));
}

// ---- cow_check ----

TEST(ZeroCheck, Format2ZeroChunksAndFreeSlots)
{
	sim_array s = zero_image();
	std::string text;
	check_result r = check_of(s.dev(), &text);

	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_TRUE(r.map_read);
	EXPECT_EQ(s.sb().mapped_chunks, 12U);
	EXPECT_EQ(r.mapped_chunks, 12U);
	EXPECT_EQ(r.zero_chunks, 4U);
	EXPECT_EQ(r.data_slots, 8U);
	EXPECT_EQ(r.meta_slots, 1U);
	EXPECT_EQ(r.free_slots, 2U);
	EXPECT_EQ(r.leaked_slots, 0U);
	EXPECT_FALSE(r.has(damage::leaked_slots)) << text;
	EXPECT_NE(text.find("1/1 nodes per level (root first), 12 chunks mapped\n"), std::string::npos)
		<< text;
	EXPECT_NE(text.find("4 zero chunks (read as zeros, no slot)\n"), std::string::npos) << text;
	EXPECT_NE(text.find("11 slots allocated: 8 data, 1 metadata (1 units), 2 free\n"),
		  std::string::npos) << text;

	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_check", "-f", "json", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_NE(o.out.find("\"chunks\": {\"mapped\": 12, \"partial\": 0, \"missing_subchunks\": 0,"
			     " \"zero\": 4, \"clean\": 0},\n  \"slots\": {\"allocated\": 11, \"data\": 8,"
			     " \"metadata\": 1, \"free\": 2, \"leaked\": 0}"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"findings\": []"), std::string::npos) << o.out;
}

TEST(ZeroCheck, ZeroChunksAreNotInFormat1)
{
	// A format 2 map read as format 1: the zero chunk entries point to an
	// out-of-range slot, and the free slots are leaked.
	sim_array s = zero_image();
	std::string text;

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = 0; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_EQ(r.format, 1U);
	EXPECT_EQ(r.counts[damage::entry_slot_range], 4U) << text;
	EXPECT_NE(text.find("error: map entry for chunk 5 (0xffffffffffff) has the slot field of a zero"
			    " chunk in format 1, which has none: its slot is out of range"),
		  std::string::npos) << text;
	EXPECT_TRUE(r.has(damage::leaked_slots)) << text;

	// One such entry in a format 1 array the kernel wrote.
	sim_array t = cowtest::cli_standard();
	t.edit_node(0, 0, [](node &n) { n.entries[3] = kLeafZero; });
	r = check_of(t.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::entry_slot_range)) << text;
	EXPECT_EQ(r.zero_chunks, 0U);
}

TEST(ZeroCheck, ZeroChunkWithMissingBits)
{
	sim_array s = zero_image();
	std::string text;

	s.edit_node(0, 0, [](node &n) { n.entries[20] = kLeafZero | 1ULL << 48; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::entry_slot_range)) << text;
	EXPECT_NE(text.find("error: map entry for chunk 20 (0x1ffffffffffff) has the slot field of a"
			    " zero chunk with missing sub-chunk bits: its slot is out of range"),
		  std::string::npos) << text;
	EXPECT_EQ(r.zero_chunks, 3U);
	EXPECT_TRUE(r.has(damage::mapped_count)) << text;	// 11 valid entries, 12 recorded
}

TEST(ZeroCheck, ZeroChunkBeyondTheArray)
{
	sim_params p = f2();
	p.array_sectors = 1000 * 128;	// leaf 1 covers chunks 507-1013
	sim_array s(p);
	std::string text;

	s.write(600);
	s.commit();
	s.edit_node(0, 1, [](node &n) { n.entries[1005 - 507] = kLeafZero; });
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::entry_chunk_range)) << text;
	EXPECT_NE(text.find("map entry for chunk 1005 (a zero chunk) is beyond the array"),
		  std::string::npos) << text;
}

TEST(FreeSlots, LeakedInFormat1FreeInFormat2)
{
	for (bool format2 : {false, true}) {
		sim_params p;
		p.format2 = format2;
		sim_array s(p);
		std::string text;

		for (uint64_t c = 0; c < 4; c++)
			s.write(c);
		uint64_t slot = s.leak_slot();	// a write a crash interrupted
		s.write(4);
		s.commit();
		check_result r = check_of(s.dev(), &text);
		if (format2) {
			EXPECT_EQ(r.worst, severity::none) << text;
			EXPECT_FALSE(r.has(damage::leaked_slots)) << text;
			EXPECT_EQ(r.free_slots, 1U);
			EXPECT_EQ(r.leaked_slots, 0U);
			EXPECT_NE(text.find("7 slots allocated: 5 data, 1 metadata (1 units), 1 free\n"),
				  std::string::npos) << text;
		} else {
			EXPECT_EQ(r.worst, severity::non_fatal) << text;
			EXPECT_TRUE(r.has(damage::leaked_slots)) << text;
			EXPECT_EQ(r.free_slots, 0U);
			EXPECT_EQ(r.leaked_slots, 1U);
			EXPECT_NE(text.find("7 slots allocated: 5 data, 1 metadata (1 units), 1 leaked\n"),
				  std::string::npos) << text;
			EXPECT_NE(text.find(strf("warning: 1 slots are allocated but neither mapped nor"
						 " metadata: %" PRIu64 "\n", slot)), std::string::npos)
				<< text;
		}
		if (format2)
			EXPECT_NE(text.find("0 zero chunks"), std::string::npos) << text;
		else
			EXPECT_EQ(text.find("zero chunks"), std::string::npos) << text;
	}
}

TEST(FreeSlots, HandedOutAgain)
{
	sim_array s = zero_image();
	uint64_t s5 = 6, s7 = 8;

	EXPECT_EQ(s.free_slots(), (std::set<uint64_t>{s5, s7}));
	s.write(30);	// the lowest free slot
	s.write(5);	// the zero chunk gets the other one
	s.commit();
	EXPECT_EQ(s.slot_of(30), s5);
	EXPECT_EQ(s.slot_of(5), s7);
	std::string text;
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.free_slots, 0U);
	EXPECT_EQ(r.zero_chunks, 3U);
	EXPECT_EQ(r.mapped_chunks, 13U);
}

// ---- cow_repair and the salvage ----

TEST(ZeroRepair, KeepsZeroChunksNothingToReclaim)
{
	sim_array s = zero_image();
	s.leak_slot();
	s.write(40);
	s.commit();
	ASSERT_EQ(check_of(s.dev()).worst, severity::none);
	metadata_dump strict = dump_of(s.dev());
	read_result res;
	metadata_dump salvaged = dump_of(s.dev(), true, &res);

	EXPECT_EQ(salvaged.runs, strict.runs);
	EXPECT_EQ(res.zero, 4U);
	EXPECT_EQ(res.mapped, 13U);
	EXPECT_EQ(res.dropped, 0U);

	temp_file dev(s.dev().bytes());
	outcome n = run({"cow_repair", "-n", "-i", dev.path()});
	EXPECT_EQ(n.rc, 0) << n.out << n.err;
	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out << o.err;
	EXPECT_NE(o.out.find("13 chunks mapped in 7 runs; 0 entries dropped, up to 0 chunks lost\n"),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find("4 of the mapped chunks are zero chunks (kept)\n"), std::string::npos)
		<< o.out;
	outcome c = run({"cow_check", dev.path()});
	EXPECT_EQ(c.rc, 0) << c.out;
	dump_collector after;
	parse_dump(run({"cow_dump", dev.path()}).out, after);
	EXPECT_EQ(after.d.runs, strict.runs);
	EXPECT_EQ(after.d.sb.mapped_chunks, 13U);
}

TEST(ZeroRepair, ZeroValueDroppedWhereInvalid)
{
	// Format 1: the zero chunk value is an invalid entry.
	sim_array s = cowtest::cli_standard();
	s.edit_node(0, 0, [](node &n) { n.entries[3] = kLeafZero; });
	read_result res;
	metadata_dump d = dump_of(s.dev(), true, &res);

	EXPECT_EQ(res.dropped, 1U);
	EXPECT_EQ(res.zero, 0U);
	for (const mapping_run &r : d.runs) {
		EXPECT_FALSE(r.zero);
		EXPECT_FALSE(r.origin_chunk <= 3 && 3 < r.origin_chunk + r.length);
	}

	// Format 2 with a missing bit: dropped too (the chunk reads the origin).
	sim_array t = zero_image();
	t.edit_node(0, 0, [](node &n) { n.entries[21] = kLeafZero | 2ULL << 48; });
	d = dump_of(t.dev(), true, &res);
	EXPECT_EQ(res.dropped, 1U);
	EXPECT_EQ(res.zero, 3U);
	std::vector<mapping_run> zero_runs;
	for (const mapping_run &r : d.runs)
		if (r.zero)
			zero_runs.push_back(r);
	EXPECT_EQ(zero_runs, (std::vector<mapping_run>{{5, 0, 1, 0, true}, {20, 0, 1, 0, true},
							{22, 0, 1, 0, true}}));
}

// ---- dump and restore ----

TEST(ZeroDump, RunsAndJson)
{
	sim_array s = zero_image();
	metadata_dump d = dump_of(s.dev());
	std::vector<mapping_run> want = {
		{0, s.slot_of(0), 1, 0},
		{1, s.slot_of(1), 4, 0},	// chunks 1-4
		{5, 0, 1, 0, true},
		{6, s.slot_of(6), 1, 0},
		{8, s.slot_of(8), 2, 0},
		{20, 0, 3, 0, true},
	};

	EXPECT_EQ(d.runs, want);
	EXPECT_EQ(d.sb.mapped_chunks, 12U);
	std::string j = json_of(d);
	EXPECT_NE(j.find("\"version\": 2,"), std::string::npos) << j;
	EXPECT_NE(j.find("{\"origin_chunk\": 20, \"length\": 3, \"zero\": true}"), std::string::npos)
		<< j;
	EXPECT_NE(j.find(strf("{\"origin_chunk\": 6, \"slot\": %" PRIu64 ", \"length\": 1}",
			      s.slot_of(6))), std::string::npos) << j;

	temp_file dev(s.dev().bytes());
	outcome h = run({"cow_dump", "-f", "human", dev.path()});
	EXPECT_EQ(h.rc, 0) << h.err;
	EXPECT_NE(h.out.find(strf("  %-27s %-27s %d\n", "20-22", "zero (no slot)", 3)),
		  std::string::npos) << h.out;
	EXPECT_NE(h.out.find("12 chunks mapped in 6 runs, 4 zero chunks\n"), std::string::npos)
		<< h.out;
}

TEST(ZeroDump, DumpRestoreRoundTrip)
{
	sim_array s = zero_image();
	s.write(11, 0x00ff);	// and a partial chunk, in the lowest free slot
	s.commit();
	temp_file dev(s.dev().bytes());
	dump_collector a, b;
	cowtest::dump_restore_dump(dev.path(), a, b);
	if (HasFatalFailure())
		return;
	EXPECT_EQ(a.d.runs, b.d.runs);
	EXPECT_EQ(b.d.sb.mapped_chunks, 13U);
	EXPECT_EQ(b.d.sb.incompat, kIncompatSubchunk);

	// The restored leaves hold the zero chunk entries; the slot left free
	// below alloc_next is free, not damage.
	memory_device img(dev.bytes().size(), "restored");
	img.bytes() = dev.bytes();
	std::string text;
	check_result c = check_of(img, &text);
	EXPECT_EQ(c.worst, severity::none) << text;
	EXPECT_EQ(c.zero_chunks, 4U);
	EXPECT_EQ(c.partial_chunks, 1U);
	EXPECT_EQ(c.mapped_chunks, 13U);

	// A fixed point: the same again.
	dump_collector e, f;
	cowtest::dump_restore_dump(dev.path(), e, f);
	if (HasFatalFailure())
		return;
	EXPECT_EQ(f.d.runs, a.d.runs);
	EXPECT_EQ(f.d.sb.alloc_next, b.d.sb.alloc_next);
}

TEST(ZeroDump, ParserRules)
{
	std::vector<mapping_run> runs;

	EXPECT_EQ(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 2, \"zero\": true}"),
			      &runs), "");
	EXPECT_EQ(runs, (std::vector<mapping_run>{{3, 0, 2, 0, true}}));

	// Neighbouring zero runs merge; a zero run and a slot run do not.
	EXPECT_EQ(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 1, \"zero\": true},"
					 "{\"origin_chunk\": 4, \"length\": 2, \"zero\": true},"
					 "{\"origin_chunk\": 6, \"slot\": 0, \"length\": 1},"
					 "{\"origin_chunk\": 7, \"slot\": 1, \"length\": 1, \"zero\": false}"),
			      &runs), "");
	EXPECT_EQ(runs, (std::vector<mapping_run>{{3, 0, 3, 0, true}, {6, 0, 2, 0}}));

	EXPECT_NE(parse_error(small_dump(0, "{\"origin_chunk\": 3, \"length\": 1, \"zero\": true}"))
		  .find("zero chunks need format 2"), std::string::npos);
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 1,"
					 " \"zero\": true}")).find("has no \"slot\""),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 1, \"missing\": 1,"
					 " \"zero\": true}")).find("no \"missing\""),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 1}"))
		  .find("missing \"slot\" in mapping"), std::string::npos);
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 1, \"zero\": 1}")),
		  "");	// a boolean, not a number
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"length\": 2, \"zero\": true},"
					 "{\"origin_chunk\": 4, \"slot\": 0, \"length\": 1}"))
		  .find("out of order or overlaps"), std::string::npos);
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 1023, \"length\": 2, \"zero\": true}"))
		  .find("runs past the end"), std::string::npos);
	// A slot whose entry would be the zero chunk value is out of range.
	EXPECT_NE(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"slot\": 281474976710654,"
					 " \"length\": 1}")).find("slots out of range"),
		  std::string::npos);
	EXPECT_EQ(parse_error(small_dump(1, "{\"origin_chunk\": 3, \"slot\": 281474976710653,"
					 " \"length\": 1}")), "");
}

// ---- cow_map ----

TEST(ZeroMap, ZeroChunksShownAsZero)
{
	sim_array s = zero_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_map", dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.out, map_header() +
		  map_line(0, 0x10000, "0", dirty_to(s, 0)) +
		  map_line(0x10000, 0x40000, "1-4", dirty_to(s, 1)) +
		  map_line(0x50000, 0x10000, "5", "zero") +
		  map_line(0x60000, 0x10000, "6", dirty_to(s, 6)) +
		  map_line(0x70000, 0x10000, "7", "origin") +
		  map_line(0x80000, 0x20000, "8-9", dirty_to(s, 8)) +
		  map_line(0xa0000, 0xa0000, "10-19", "origin") +
		  map_line(0x140000, 0x30000, "20-22", "zero") +
		  map_line(0x170000, 64 * 1048576 - 0x170000, "23-1023", "origin"));

	outcome one = run({"cow_map", "-c", "21", dev.path()});
	EXPECT_EQ(one.out, map_header() + map_line(0x150000, 0x10000, "21", "zero"));
	outcome j = run({"cow_map", "-f", "json", "-c", "21", dev.path()});
	EXPECT_EQ(j.out, "[\n  {\"start\": 1376256, \"length\": 65536, \"chunk\": 21, \"chunks\": 1,"
			 " \"data\": \"zero\"}\n]\n");
}

// ---- cow_delta ----

TEST(ZeroDelta, ZeroChunksAreWrittenZeros)
{
	sim_array s(f2());
	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.write(10, 0xfff0);	// sub-chunks 0-3 in the slot
	s.commit();
	temp_file d1(json_of(dump_of(s.dev())));
	uint64_t s5 = s.slot_of(5), s7 = s.slot_of(7), s10 = s.slot_of(10);
	s.zero(5);
	s.discard(7);
	s.zero(10);
	for (uint64_t c = 20; c < 23; c++)
		s.zero(c);
	s.commit();
	temp_file d2(json_of(dump_of(s.dev())));

	outcome o = run({"cow_delta", d1.path(), d2.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(o.out, strf("~ chunks 5  slots %" PRIu64 " -> zero\n"
			      "- chunks 7  slots %" PRIu64 "\n"
			      "~ chunk 10 sub 0-3  slot %" PRIu64 " -> zero\n"
			      "+ chunk 10 sub 4-15  zero\n"
			      "+ chunks 20-22  zero\n", s5, s7, s10));
	o = run({"cow_delta", d2.path(), d1.path()});
	EXPECT_EQ(o.out, strf("~ chunks 5  zero -> slots %" PRIu64 "\n"
			      "+ chunks 7  slots %" PRIu64 "\n"
			      "~ chunk 10 sub 0-3  zero -> slot %" PRIu64 "\n"
			      "- chunk 10 sub 4-15  zero\n"
			      "- chunks 20-22  zero\n", s5, s7, s10));
	o = run({"cow_delta", d2.path(), d2.path()});
	EXPECT_EQ(o.rc, 0);
	EXPECT_EQ(o.out, "");
	o = run({"cow_delta", "-f", "json", d1.path(), d2.path()});
	EXPECT_EQ(o.out, strf("[\n"
			      "  {\"change\": \"~\", \"chunk\": 5, \"chunks\": 1, \"slot\": %" PRIu64
			      ", \"new_zero\": true},\n"
			      "  {\"change\": \"-\", \"chunk\": 7, \"chunks\": 1, \"slot\": %" PRIu64 "},\n"
			      "  {\"change\": \"~\", \"chunk\": 10, \"chunks\": 1, \"subchunk\": 0,"
			      " \"subchunks\": 4, \"slot\": %" PRIu64 ", \"new_zero\": true},\n"
			      "  {\"change\": \"+\", \"chunk\": 10, \"chunks\": 1, \"subchunk\": 4,"
			      " \"subchunks\": 12, \"new_zero\": true},\n"
			      "  {\"change\": \"+\", \"chunk\": 20, \"chunks\": 3, \"new_zero\": true}\n"
			      "]\n", s5, s7, s10));
	o = run({"cow_delta", "-f", "json", d2.path(), d1.path()});
	EXPECT_NE(o.out.find("{\"change\": \"-\", \"chunk\": 20, \"chunks\": 3, \"zero\": true}"),
		  std::string::npos) << o.out;
}

// ---- cow_rmap and cow_ls ----

TEST(ZeroRmap, FreeSlotsAreFree)
{
	sim_array s = zero_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_rmap", "--slot", "6..7", dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find(": slot 6: free (below alloc_next, holds nothing mapped)\n"),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find(": slot 7: data of chunk 6 "), std::string::npos) << o.out;

	sim_array t = cowtest::cli_standard();
	uint64_t leaked = t.leak_slot();
	t.write(700);
	t.commit();
	temp_file dev1(t.dev().bytes());
	o = run({"cow_rmap", "--slot", std::to_string(leaked), dev1.path()});
	EXPECT_NE(o.out.find("allocated but holds nothing mapped (leaked slot)"), std::string::npos)
		<< o.out;
}

TEST(ZeroLs, StoppedFormat2CountsFreeSlots)
{
	sim_array s = zero_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_ls", "-f", "json", dev.path()});
	uint64_t total = (s.area().blocks() - s.sb().data_start) / s.chunk_blocks();

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find(strf("\"mapped_slots\": 8, \"used_slots\": 9, \"free_slots\": %" PRIu64
				  ", \"total_slots\": %" PRIu64, total - 9, total)),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"state\": \"stopped\", \"zero_chunks\": 4, \"clean_chunks\": 0}"),
		  std::string::npos) << o.out;

	// Format 1: the superblock's counts, as before.
	sim_array t = cowtest::cli_standard();
	t.leak_slot();
	t.write(700);
	t.commit();
	temp_file dev1(t.dev().bytes());
	o = run({"cow_ls", "-f", "json", dev1.path()});
	EXPECT_NE(o.out.find(strf("\"mapped_slots\": 51, \"used_slots\": %" PRIu64,
				  t.sb().alloc_next)), std::string::npos) << o.out;
}

// ---- cow-metaedit (the VM tests' metadata editor) ----

#ifdef COW_METAEDIT
namespace {

int metaedit(const std::string &args)
{
	std::string cmd = std::string(COW_METAEDIT) + " " + args + " 2>/dev/null";
	int st = std::system(cmd.c_str());

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

check_result check_file(const temp_file &f, std::string *text)
{
	std::vector<uint8_t> b = f.bytes();
	memory_device img(b.size(), "img");

	img.bytes() = b;
	return check_of(img, text);
}

}  // namespace

TEST(ZeroMetaedit, ZeroEntry)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	const uint64_t base = 2048 / 8;	// the data area, in 4 KiB blocks
	std::string leaf = std::to_string(base + s.node_pair(0, 0) +
					  static_cast<uint64_t>(s.node_copy(0, 0)));
	std::string text;

	// Format 1: out of range.
	ASSERT_EQ(metaedit(dev.path() + " " + leaf + " zero 7"), 0);
	check_result r = check_file(dev, &text);
	EXPECT_TRUE(r.has(damage::entry_slot_range)) << text;
	EXPECT_FALSE(r.has(damage::node_bad_csum)) << text;

	// Format 2: a zero chunk; chunk 7's slot is free.
	for (uint64_t c : {0, 1})
		ASSERT_EQ(metaedit(dev.path() + " " + std::to_string(base + c) + " sb format 2"), 0);
	r = check_file(dev, &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.zero_chunks, 1U);
	EXPECT_EQ(r.free_slots, 1U);
	EXPECT_EQ(r.mapped_chunks, 50U);

	// With a missing bit: out of range again.
	ASSERT_EQ(metaedit(dev.path() + " " + leaf + " missing 7 0x0001"), 0);
	r = check_file(dev, &text);
	EXPECT_TRUE(r.has(damage::entry_slot_range)) << text;

	// Usage errors: a value, an entry index past the node.
	EXPECT_EQ(metaedit(dev.path() + " " + leaf + " zero 7 1"), 2);
	EXPECT_EQ(metaedit(dev.path() + " " + leaf + " zero 507"), 2);
	EXPECT_EQ(metaedit(dev.path() + " " + leaf + " zero"), 2);
}
#endif
