// clean_test.cc - clean chunks (incompat CLEAN, a feature of format 2) and
// the copy-on-read superblock flag (CACHE).
//
// A clean chunk's leaf entry has a slot and all 16 missing bits set
// (kLeafClean): the whole chunk is in the slot, a copy of the origin's; it
// counts as mapped, holds its slot like written data, and is not written
// data.  Without the feature that entry is invalid, as before; without an
// origin it is damage.  The superblock rules (CLEAN only with SUBCHUNK,
// CACHE only with CLEAN and an origin), the checker's counts and findings,
// the salvage and cow_repair, the dump/restore round trip and the dump's
// rules, cow_delta (clean chunks left out), cow_map, cow_rmap and cow_ls.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
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

// 64 MiB, 64 KiB chunks (1024 chunks, map depth 2), format 2 with clean
// chunks and copy-on-read on.
sim_params fc()
{
	sim_params p;

	p.format2 = true;
	p.clean = true;
	p.cache = true;
	return p;
}

// Chunks 0-3 written; 10-12 and 1023 (in another leaf) read and kept
// clean; 20 written partially (sub-chunks 8-15); 30 zeroed.  10 chunks
// mapped: 4 clean, 1 partial, 1 zero; 9 data slots and 1 metadata unit.
sim_array clean_image(const sim_params &p = fc())
{
	sim_array s(p);

	for (uint64_t c = 0; c < 4; c++)
		s.write(c);
	for (uint64_t c = 10; c < 13; c++)
		s.promote(c);
	s.write(20, 0x00ff);
	s.zero(30);
	s.promote(1023);
	s.commit();
	return s;
}

// A minimal dump of a 64 MiB array of 64 KiB chunks with @mappings.
std::string small_dump(uint64_t version, uint64_t incompat, uint64_t flags,
		       const std::string &mappings)
{
	return strf("{\"format\": \"md-cow-dump\", \"version\": %" PRIu64 ", \"superblock\": {"
		    "\"seq\": 5, \"flags\": %" PRIu64 ", \"incompat\": %" PRIu64 ", \"array_uuid\":"
		    " \"00112233-4455-6677-8899-aabbccddeeff\", \"array_sectors\": 131072,"
		    " \"origin_sectors\": 131072, \"chunk_sectors\": 128, \"data_start\": 16},"
		    " \"mappings\": [%s]}", version, flags, incompat, mappings.c_str());
}

std::string map_line(uint64_t start, uint64_t len, const std::string &chunks, const std::string &to)
{
	return strf("0x%-16" PRIx64 " 0x%-16" PRIx64 " %-23s %s\n", start, len, chunks.c_str(),
		    to.c_str());
}

std::string slot_to(sim_array &s, const char *what, uint64_t chunk)
{
	uint64_t off = 2048 * 512 + s.slot_block(s.slot_of(chunk)) * 4096;

	return strf("%s 0x%" PRIx64 " (slot %" PRIu64 ")", what, off, s.slot_of(chunk));
}

}  // namespace

// ---- the format ----

TEST(Clean, Constants)
{
	EXPECT_EQ(kIncompatClean, 2U);
	EXPECT_EQ(kFlagCache, 8U);
	EXPECT_EQ(kLeafClean, 0xffff);
	EXPECT_EQ(kIncompatSupp, kIncompatSubchunk | kIncompatClean);
	EXPECT_EQ(kKnownFlags & kFlagCache, kFlagCache);
	// A feature of format 2, not a format.
	EXPECT_EQ(format_of(kIncompatSubchunk | kIncompatClean), 2U);
	EXPECT_EQ(format_of(kIncompatClean), 1U);
	EXPECT_TRUE(clean_chunks_of(kIncompatSubchunk | kIncompatClean));
	EXPECT_FALSE(clean_chunks_of(kIncompatClean));
	EXPECT_FALSE(clean_chunks_of(kIncompatSubchunk));
}

TEST(Clean, LeafEntry)
{
	uint64_t e = leaf_make(5, kLeafClean);

	EXPECT_EQ(e, 0xffff000000000006ULL);
	EXPECT_TRUE(leaf_is_clean(e, true));
	EXPECT_FALSE(leaf_is_clean(e, false));			// without the feature
	EXPECT_EQ(leaf_slot(e), 5U);
	EXPECT_FALSE(leaf_is_clean(leaf_make(5, 0x7fff), true));	// a partial chunk
	EXPECT_FALSE(leaf_is_clean(leaf_make(5, 0), true));
	EXPECT_FALSE(leaf_is_clean(kLeafMissingMask, true));	// no slot
	EXPECT_FALSE(leaf_is_clean(kLeafZero, true));
	EXPECT_FALSE(leaf_is_zero(e, 2));
	EXPECT_FALSE(leaf_is_clean(0, true));
}

// ---- the superblock rules ----

TEST(CleanSuperblock, Problems)
{
	sim_array s(fc());
	superblock sb = s.sb();
	geometry g;
	auto kinds = [&](const superblock &x) {
		std::vector<sb_problem::kind_t> k;

		for (const sb_problem &p : sb_unpack_problems(x, g))
			k.push_back(p.kind);
		return k;
	};
	using K = std::vector<sb_problem::kind_t>;

	EXPECT_EQ(kinds(sb), K{});
	EXPECT_EQ(g.format, 2U);
	EXPECT_TRUE(g.clean);

	sb.incompat = kIncompatClean;	// without format 2: CACHE is invalid too
	EXPECT_EQ(kinds(sb), (K{sb_problem::bad_clean, sb_problem::bad_cache}));
	EXPECT_EQ(g.format, 1U);
	EXPECT_FALSE(g.clean);
	sb.flags &= ~kFlagCache;
	EXPECT_EQ(kinds(sb), K{sb_problem::bad_clean});

	sb = s.sb();
	sb.incompat = kIncompatSubchunk;	// CACHE without CLEAN
	EXPECT_EQ(kinds(sb), K{sb_problem::bad_cache});
	EXPECT_FALSE(g.clean);
	sb.flags &= ~kFlagCache;
	EXPECT_EQ(kinds(sb), K{});

	sb = s.sb();
	sb.flags |= kFlagNoOrigin;	// CACHE without an origin
	sb.origin_sectors = 0;
	EXPECT_EQ(kinds(sb), K{sb_problem::bad_cache});
	EXPECT_TRUE(g.clean);
	sb.flags &= ~kFlagCache;	// clean chunks allowed, copy-on-read off
	EXPECT_EQ(kinds(sb), K{});
}

TEST(CleanSuperblock, CheckerFindings)
{
	std::string text;

	// Valid: the feature and the flag are no damage, the flag no unknown one.
	sim_array s(fc());
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_TRUE(r.findings.empty()) << text;
	EXPECT_EQ(r.format, 2U);
	EXPECT_NE(text.find("copy-on-read is on"), std::string::npos) << text;
	EXPECT_NE(text.find("clean chunks: a mapped chunk may be a clean copy of the origin's"),
		  std::string::npos) << text;

	// The feature without format 2.
	sim_params p = fc();
	p.format2 = false;
	p.cache = false;
	sim_array t(p);
	t.write(3);
	t.commit();
	r = check_of(t.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::sb_clean_feature)) << text;
	EXPECT_FALSE(r.has(damage::sb_incompat)) << text;
	EXPECT_EQ(r.format, 1U);
	EXPECT_TRUE(r.map_read) << text;	// not a geometry problem
	EXPECT_NE(text.find("error: clean chunks feature (incompat bit 1) without format 2 (bit 0)"
			    " (the kernel refuses it)"), std::string::npos) << text;

	// The flag without the feature.
	p = fc();
	p.clean = false;
	sim_array u(p);
	r = check_of(u.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::sb_cache_flag)) << text;
	EXPECT_FALSE(r.has(damage::sb_unknown_flags)) << text;
	EXPECT_NE(text.find("error: copy-on-read flag without the clean chunks feature"),
		  std::string::npos) << text;

	// The flag without an origin.
	p = fc();
	p.no_origin = true;
	sim_array v(p);
	r = check_of(v.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::sb_cache_flag)) << text;
	EXPECT_NE(text.find("error: copy-on-read flag in an array without origin"),
		  std::string::npos) << text;

	temp_file dev(v.dev().bytes());
	outcome o = run({"cow_check", "-f", "json", dev.path()});
	EXPECT_EQ(o.rc, 2) << o.out;
	EXPECT_NE(o.out.find("\"kind\": \"sb_cache_flag\", \"severity\": \"fatal\""),
		  std::string::npos) << o.out;
}

// ---- cow_check ----

TEST(CleanCheck, ValidImageCountsCleanChunks)
{
	sim_array s = clean_image();
	std::string text;
	check_result r = check_of(s.dev(), &text);

	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_TRUE(r.findings.empty()) << text;
	EXPECT_TRUE(r.map_read);
	EXPECT_EQ(s.sb().mapped_chunks, 10U);
	EXPECT_EQ(r.mapped_chunks, 10U);
	EXPECT_EQ(r.clean_chunks, 4U);
	EXPECT_EQ(r.partial_chunks, 1U);	// clean chunks are no partial ones
	EXPECT_EQ(r.missing_subchunks, 8U);
	EXPECT_EQ(r.zero_chunks, 1U);
	EXPECT_EQ(r.data_slots, 9U);		// clean chunks hold their slots
	EXPECT_EQ(r.meta_slots, 1U);
	EXPECT_EQ(r.free_slots, 0U);
	EXPECT_NE(text.find("4 clean chunks (copies of the origin's, may be dropped)\n"),
		  std::string::npos) << text;
	EXPECT_NE(text.find("1 partial chunks (8 sub-chunks still read from the origin)\n"),
		  std::string::npos) << text;

	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_check", "-f", "json", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_NE(o.out.find("\"chunks\": {\"mapped\": 10, \"partial\": 1, \"missing_subchunks\": 8,"
			     " \"zero\": 1, \"clean\": 4}"), std::string::npos) << o.out;

	// Without the feature nothing is said about clean chunks.
	sim_params p = fc();
	p.clean = p.cache = false;
	sim_array t(p);
	t.write(1);
	t.commit();
	check_of(t.dev(), &text);
	EXPECT_EQ(text.find("clean chunks"), std::string::npos) << text;
}

TEST(CleanCheck, AnyChunkSizeAndThePartialLastChunk)
{
	// 4 KiB chunks have no sub-chunks; the last chunk of 40 sectors has 5.
	for (uint32_t chunk : {8U, 16U, 128U}) {
		sim_params p = fc();
		p.chunk_sectors = chunk;
		p.array_sectors = chunk == 128 ? 1023 * 128 + 40 : 64 * 2048 - 8;
		sim_array s(p);
		uint64_t last = (p.array_sectors + chunk - 1) / chunk - 1;
		std::string text;

		s.write(0);
		s.promote(1);
		s.promote(last);
		s.commit();
		check_result r = check_of(s.dev(), &text);
		EXPECT_EQ(r.worst, severity::none) << chunk << "\n" << text;
		EXPECT_EQ(r.clean_chunks, 2U) << chunk;
		EXPECT_EQ(r.mapped_chunks, 3U) << chunk;

		// The same entries without the feature: invalid sub-chunk bits
		// (none in the slot, past the end, or no sub-chunks at all).
		s.edit_sb(s.sb_copy(), [](superblock &sb) {
			sb.incompat = kIncompatSubchunk;
			sb.flags &= ~kFlagCache;
		});
		r = check_of(s.dev(), &text);
		EXPECT_EQ(r.worst, severity::fatal) << chunk << "\n" << text;
		EXPECT_EQ(r.counts[damage::entry_missing_bits], 2U) << chunk << "\n" << text;
		EXPECT_EQ(r.clean_chunks, 0U);
		EXPECT_NE(text.find(strf("error: map entry for chunk %" PRIu64 " has invalid missing"
					 " sub-chunks 0xffff: ", last)), std::string::npos) << text;
	}
}

TEST(CleanCheck, CleanEntryWithoutTheFeature)
{
	sim_array s = clean_image();
	std::string text;

	// Format 2 without CLEAN: the entries' bits say no sub-chunk is in
	// the slot (the existing damage).
	s.edit_sb(s.sb_copy(), [](superblock &sb) {
		sb.incompat = kIncompatSubchunk;
		sb.flags &= ~kFlagCache;
	});
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_EQ(r.counts[damage::entry_missing_bits], 4U) << text;
	EXPECT_NE(text.find(strf("error: map entry for chunk 10 has invalid missing sub-chunks 0xffff:"
				 " no sub-chunk in the slot (entry 0x%" PRIx64 ")",
				 leaf_make(s.slot_of(10), kLeafClean))), std::string::npos) << text;
	EXPECT_EQ(r.clean_chunks, 0U);
	EXPECT_TRUE(r.has(damage::mapped_count)) << text;

	// Format 1: reserved bits.
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = 0; });
	r = check_of(s.dev(), &text);
	EXPECT_EQ(r.counts[damage::entry_reserved_bits], 5U) << text;	// and the partial one
}

TEST(CleanCheck, CleanChunkWithoutOrigin)
{
	sim_array s = clean_image();
	std::string text;

	s.edit_sb(s.sb_copy(), [](superblock &sb) {
		sb.flags = (sb.flags | kFlagNoOrigin) & ~kFlagCache;
		sb.origin_sectors = 0;
		sb.origin_fp = 0;
		sb.origin_fp_method = 0;
	});
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_EQ(r.counts[damage::entry_clean_no_origin], 4U) << text;
	EXPECT_FALSE(r.has(damage::sb_cache_flag)) << text;
	EXPECT_NE(text.find(strf("error: map entry for chunk 11 is a clean chunk (a copy of the"
				 " origin's) in an array without origin (entry 0x%" PRIx64 ")",
				 leaf_make(s.slot_of(11), kLeafClean))), std::string::npos) << text;
	for (const finding &f : r.findings)
		EXPECT_TRUE(f.kind != damage::entry_clean_no_origin || f.sev == severity::fatal) << f.msg;
	EXPECT_EQ(r.clean_chunks, 0U);

	// With the flag still set, the superblock is refused too.
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.flags |= kFlagCache; });
	r = check_of(s.dev(), &text);
	EXPECT_TRUE(r.has(damage::sb_cache_flag)) << text;
	EXPECT_TRUE(r.has(damage::entry_clean_no_origin)) << text;
}

TEST(CleanCheck, CleanSlotIsInUse)
{
	// A clean chunk's slot is a data slot: mapped twice is damage.
	sim_array s = clean_image();
	std::string text;
	uint64_t slot = s.slot_of(2);

	s.edit_node(0, 0, [&](node &n) { n.entries[40] = leaf_make(slot, kLeafClean); });
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::fatal) << text;
	EXPECT_TRUE(r.has(damage::slot_mapped_twice)) << text;

	// A clean entry beyond alloc_next.
	sim_array t = clean_image();
	t.edit_node(0, 0, [&](node &n) { n.entries[41] = leaf_make(500, kLeafClean); });
	r = check_of(t.dev(), &text);
	EXPECT_TRUE(r.has(damage::entry_slot_range)) << text;
}

TEST(CleanCheck, WriteToACleanChunkMapsItAnew)
{
	sim_array s = clean_image();
	uint64_t old = s.slot_of(10);

	s.write(10, 0xff00);	// a first write: the clean slot is freed
	s.discard(11);
	s.zero(12);
	s.commit();
	EXPECT_NE(s.slot_of(10), old);
	std::string text;
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_EQ(r.clean_chunks, 1U);
	EXPECT_EQ(r.partial_chunks, 2U);
	EXPECT_EQ(r.zero_chunks, 2U);
	EXPECT_EQ(r.mapped_chunks, 9U);
	EXPECT_EQ(r.free_slots, 3U);
}

// ---- dump and restore ----

TEST(CleanDump, RunsJsonAndHuman)
{
	sim_array s = clean_image();
	metadata_dump d = dump_of(s.dev());
	std::vector<mapping_run> want = {
		{0, s.slot_of(0), 1, 0, false, false},
		{1, s.slot_of(1), 3, 0, false, false},
		{10, s.slot_of(10), 3, 0, false, true},
		{20, s.slot_of(20), 1, 0x00ff, false, false},
		{30, 0, 1, 0, true, false},
		{1023, s.slot_of(1023), 1, 0, false, true},
	};

	EXPECT_EQ(d.runs, want);
	EXPECT_EQ(dump_version_for(d.sb), kDumpFormatVersion3);
	std::string j = json_of(d);
	EXPECT_NE(j.find("\"version\": 3,"), std::string::npos) << j;
	EXPECT_NE(j.find(strf("{\"origin_chunk\": 10, \"slot\": %" PRIu64 ", \"length\": 3,"
			      " \"clean\": true}", s.slot_of(10))), std::string::npos) << j;
	EXPECT_NE(j.find(strf("{\"origin_chunk\": 1, \"slot\": %" PRIu64 ", \"length\": 3}",
			      s.slot_of(1))), std::string::npos) << j;

	// Clean and written neighbours with consecutive slots stay apart.
	sim_array t(fc());
	t.write(0);
	t.promote(1);
	t.write(2);
	t.commit();
	metadata_dump e = dump_of(t.dev());
	EXPECT_EQ(e.runs.size(), 3U);
	EXPECT_EQ(t.slot_of(1) + 1, t.slot_of(2));

	temp_file dev(s.dev().bytes());
	outcome h = run({"cow_dump", "-f", "human", dev.path()});
	EXPECT_EQ(h.rc, 0) << h.err;
	EXPECT_NE(h.out.find("(copy-on-read)"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("incompat 3 (format 2, clean chunks)"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find(strf("  %-27s %-27s %d  clean (copies of the origin's)\n", "10-12",
				  strf("%" PRIu64 "-%" PRIu64, s.slot_of(10), s.slot_of(12)).c_str(),
				  3)), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("10 chunks mapped in 6 runs, 1 of them partial, 1 zero chunks,"
			     " 4 clean chunks\n"), std::string::npos) << h.out;
}

TEST(CleanDump, DumpRestoreRoundTrip)
{
	sim_array s = clean_image();
	temp_file dev(s.dev().bytes());
	dump_collector a, b;
	cowtest::dump_restore_dump(dev.path(), a, b);
	if (HasFatalFailure())
		return;
	EXPECT_EQ(a.d.runs, b.d.runs);
	EXPECT_EQ(b.d.sb.mapped_chunks, 10U);
	EXPECT_EQ(b.d.sb.incompat, kIncompatSubchunk | kIncompatClean);
	EXPECT_EQ(b.d.sb.flags & kFlagCache, kFlagCache);

	// The restored leaves hold clean entries (bits 48-63 all set).
	memory_device img(dev.bytes().size(), "restored");
	img.bytes() = dev.bytes();
	std::string text;
	check_result c = check_of(img, &text);
	EXPECT_EQ(c.worst, severity::none) << text;
	EXPECT_EQ(c.clean_chunks, 4U);
	EXPECT_EQ(c.partial_chunks, 1U);
	EXPECT_EQ(c.zero_chunks, 1U);
	EXPECT_EQ(c.mapped_chunks, 10U);

	// Restored into a map without the feature they would be invalid: the
	// entries really are clean ones.
	{
		cowtest::device_view v(img);
		block_buf blk;
		superblock sb;

		ASSERT_TRUE(v.area->read_block(0, blk));
		superblock_traits::unpack(blk, sb);
		sb.incompat = kIncompatSubchunk;
		sb.flags &= ~kFlagCache;
		superblock_traits::pack(sb, blk);
		ASSERT_TRUE(v.area->write_block(0, blk));
		ASSERT_TRUE(v.area->read_block(1, blk));
		superblock_traits::unpack(blk, sb);
		sb.incompat = kIncompatSubchunk;
		sb.flags &= ~kFlagCache;
		superblock_traits::pack(sb, blk);
		ASSERT_TRUE(v.area->write_block(1, blk));
	}
	c = check_of(img, &text);
	EXPECT_EQ(c.counts[damage::entry_missing_bits], 4U) << text;
}

TEST(CleanDump, ParserRules)
{
	std::vector<mapping_run> runs;
	const std::string clean_run = "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 2, \"clean\": true}";

	EXPECT_EQ(parse_error(small_dump(3, 3, 0, clean_run), &runs), "");
	EXPECT_EQ(runs, (std::vector<mapping_run>{{3, 0, 2, 0, false, true}}));

	// Neighbouring clean runs merge; a clean run and a written one do not.
	EXPECT_EQ(parse_error(small_dump(3, 3, 0, clean_run + ","
					 "{\"origin_chunk\": 5, \"slot\": 2, \"length\": 1, \"clean\": true},"
					 "{\"origin_chunk\": 6, \"slot\": 3, \"length\": 1},"
					 "{\"origin_chunk\": 7, \"slot\": 4, \"length\": 1, \"clean\": false}"),
			      &runs), "");
	EXPECT_EQ(runs, (std::vector<mapping_run>{{3, 0, 3, 0, false, true},
						  {6, 3, 2, 0, false, false}}));

	// Clean runs need the feature (with format 2) and an origin.
	for (uint64_t incompat : {0, 1, 2})
		EXPECT_NE(parse_error(small_dump(3, incompat, 0, clean_run))
			  .find("clean chunks need format 2 with the clean chunks feature"),
			  std::string::npos) << incompat;
	EXPECT_NE(parse_error(small_dump(3, 3, kFlagNoOrigin, clean_run))
		  .find("clean chunks need an origin"), std::string::npos);
	// Whole chunks, in slots.
	EXPECT_NE(parse_error(small_dump(3, 3, 0, "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 1,"
					 " \"missing\": 1, \"clean\": true}"))
		  .find("a run of clean chunks has no \"missing\""), std::string::npos);
	EXPECT_NE(parse_error(small_dump(3, 3, 0, "{\"origin_chunk\": 3, \"length\": 1,"
					 " \"zero\": true, \"clean\": true}")), "");
	EXPECT_NE(parse_error(small_dump(3, 3, 0, "{\"origin_chunk\": 3, \"length\": 1,"
					 " \"clean\": true}")).find("missing \"slot\""),
		  std::string::npos);
	EXPECT_NE(parse_error(small_dump(3, 3, 0, "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 1,"
					 " \"clean\": 1}")), "");	// a boolean
	// The slot is used once, clean or not.
	EXPECT_NE(parse_error(small_dump(3, 3, 0, clean_run + ","
					 "{\"origin_chunk\": 9, \"slot\": 1, \"length\": 1}"))
		  .find("used by more than one mapping"), std::string::npos);
	// Version 3 is read; a later one is not.
	EXPECT_NE(parse_error(small_dump(4, 3, 0, clean_run)).find("unsupported dump version"),
		  std::string::npos);

	// The validator refuses what the parser cannot produce too.
	metadata_dump d;
	dump_collector c;
	parse_dump(small_dump(3, 3, 0, clean_run), c);
	d = c.d;
	d.runs[0].zero = true;
	d.runs[0].slot = 0;
	EXPECT_NE(validate_dump(d).find("are not clean"), std::string::npos);
	d = c.d;
	d.runs[0].missing = 1;
	EXPECT_NE(validate_dump(d).find("clean chunks are whole"), std::string::npos);
}

TEST(CleanDump, VersionFollowsTheFeature)
{
	superblock sb;

	EXPECT_EQ(dump_version_for(sb), kDumpFormatVersion);
	sb.incompat = kIncompatSubchunk;
	EXPECT_EQ(dump_version_for(sb), kDumpFormatVersion2);
	sb.incompat = kIncompatSubchunk | kIncompatClean;
	EXPECT_EQ(dump_version_for(sb), kDumpFormatVersion3);
	// A version 2 dump of an array with the feature (no clean runs) reads.
	EXPECT_EQ(parse_error(small_dump(2, 3, 0, "{\"origin_chunk\": 3, \"slot\": 0, \"length\": 1}")),
		  "");
}

// ---- cow_repair and the salvage ----

TEST(CleanRepair, KeepsCleanChunks)
{
	sim_array s = clean_image();
	metadata_dump strict = dump_of(s.dev());
	read_result res;
	metadata_dump salvaged = dump_of(s.dev(), true, &res);

	EXPECT_EQ(salvaged.runs, strict.runs);
	EXPECT_EQ(res.clean, 4U);
	EXPECT_EQ(res.mapped, 10U);
	EXPECT_EQ(res.dropped, 0U);
	EXPECT_EQ(res.fixed, 0U);

	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out << o.err;
	EXPECT_NE(o.out.find("4 of the mapped chunks are clean chunks (kept)\n"), std::string::npos)
		<< o.out;
	EXPECT_EQ(o.out.find("cleared"), std::string::npos) << o.out;
	outcome c = run({"cow_check", dev.path()});
	EXPECT_EQ(c.rc, 0) << c.out;
	dump_collector after;
	parse_dump(run({"cow_dump", dev.path()}).out, after);
	EXPECT_EQ(after.d.runs, strict.runs);
	EXPECT_EQ(after.d.sb.flags & kFlagCache, kFlagCache);
}

TEST(CleanRepair, WithoutOriginKeptAsWrittenData)
{
	sim_array s = clean_image();

	// Detached (no origin) but the flag and clean entries left: the
	// slots hold the chunks as the array read them.
	s.edit_sb(s.sb_copy(), [](superblock &sb) {
		sb.flags |= kFlagNoOrigin;
		sb.origin_sectors = 0;
		sb.origin_fp = 0;
		sb.origin_fp_method = 0;
	});
	read_result res;
	metadata_dump d = dump_of(s.dev(), true, &res);
	EXPECT_EQ(res.clean, 0U);
	EXPECT_EQ(res.fixed, 4U);
	EXPECT_EQ(res.mapped, 10U);
	for (const mapping_run &r : d.runs)
		EXPECT_FALSE(r.clean);

	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 1) << o.out << o.err;
	EXPECT_NE(o.out.find("repaired: chunk 10: a clean chunk in an array without origin, kept as"
			     " written data"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("cleared the copy-on-read flag: the array has no origin\n"),
		  std::string::npos) << o.out;
	outcome c = run({"cow_check", "-f", "json", dev.path()});
	EXPECT_EQ(c.rc, 0) << c.out;
	EXPECT_NE(c.out.find("\"zero\": 1, \"clean\": 0}"), std::string::npos) << c.out;
	outcome m = run({"cow_map", "-c", "10", dev.path()});
	EXPECT_NE(m.out.find(slot_to(s, "dirty", 10)), std::string::npos) << m.out;
}

TEST(CleanRepair, InvalidFeatureAndFlagCleared)
{
	// CLEAN without SUBCHUNK: read as format 1, whose entries have no
	// bits 48-63 (the clean and the partial entries are dropped).
	sim_array s = clean_image();
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = kIncompatClean; });
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 1) << o.out << o.err;
	EXPECT_NE(o.out.find("cleared the clean chunks feature: format 1 has none\n"),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find("cleared the copy-on-read flag: the array has no clean chunks feature\n"),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find("; 6 entries dropped"), std::string::npos) << o.out;
	// No fatal damage (slots the dropped entries held may be leaked).
	outcome c = run({"cow_check", dev.path()});
	EXPECT_LE(c.rc, 1) << c.out;
	EXPECT_EQ(c.out.find("clean chunks feature"), std::string::npos) << c.out;
	EXPECT_EQ(c.out.find("copy-on-read"), std::string::npos) << c.out;
	dump_collector after;
	parse_dump(run({"cow_dump", dev.path()}).out, after);
	EXPECT_EQ(after.d.sb.incompat, 0U);
	EXPECT_EQ(after.d.sb.flags & kFlagCache, 0U);
}

// ---- cow_delta ----

TEST(CleanDelta, CleanChunksAreNoWrittenData)
{
	sim_array s(fc());
	for (uint64_t c = 0; c < 4; c++)
		s.write(c);
	s.commit();
	temp_file d1(json_of(dump_of(s.dev())));
	for (uint64_t c = 10; c < 13; c++)
		s.promote(c);
	s.write(5);
	s.commit();
	temp_file d2(json_of(dump_of(s.dev())));

	// Only the write: the clean chunks read as the origin did.
	outcome o = run({"cow_delta", d1.path(), d2.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(o.out, strf("+ chunks 5  slots %" PRIu64 "\n", s.slot_of(5)));
	o = run({"cow_delta", "-f", "json", d1.path(), d2.path()});
	EXPECT_EQ(o.out, strf("[\n  {\"change\": \"+\", \"chunk\": 5, \"chunks\": 1, \"new_slot\": %"
			      PRIu64 "}\n]\n", s.slot_of(5)));

	// Clean chunks dropped: no change.
	s.discard(11);
	s.commit();
	temp_file d3(json_of(dump_of(s.dev())));
	o = run({"cow_delta", d2.path(), d3.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_EQ(o.out, "");

	// A write to a clean chunk is new written data.
	s.write(10);
	s.commit();
	temp_file d4(json_of(dump_of(s.dev())));
	o = run({"cow_delta", d3.path(), d4.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(o.out, strf("+ chunks 10  slots %" PRIu64 "\n", s.slot_of(10)));
	o = run({"cow_delta", d4.path(), d1.path()});
	EXPECT_EQ(o.out, strf("- chunks 5  slots %" PRIu64 "\n- chunks 10  slots %" PRIu64 "\n",
			      s.slot_of(5), s.slot_of(10)));
}

// ---- cow_map, cow_rmap, cow_ls ----

TEST(CleanMap, CleanChunksShownAsClean)
{
	sim_array s = clean_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_map", dev.path()});
	const uint64_t k = 0x10000;

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.out, strf("%-18s %-18s %-23s %s\n", "Offset", "Length", "Chunks", "Mapped to") +
		  map_line(0, k, "0", slot_to(s, "dirty", 0)) +
		  map_line(k, 3 * k, "1-3", slot_to(s, "dirty", 1)) +
		  map_line(4 * k, 6 * k, "4-9", "origin") +
		  map_line(10 * k, 3 * k, "10-12", slot_to(s, "clean", 10)) +
		  map_line(13 * k, 7 * k, "13-19", "origin") +
		  map_line(20 * k, k / 2, "20 sub 0-7", "origin") +
		  map_line(20 * k + k / 2, k / 2, "20 sub 8-15",
			   strf("dirty 0x%" PRIx64 " (slot %" PRIu64 ")",
				2048 * 512 + s.slot_block(s.slot_of(20)) * 4096 + k / 2, s.slot_of(20))) +
		  map_line(21 * k, 9 * k, "21-29", "origin") +
		  map_line(30 * k, k, "30", "zero") +
		  map_line(31 * k, 992 * k, "31-1022", "origin") +
		  map_line(1023 * k, k, "1023", slot_to(s, "clean", 1023)));

	outcome j = run({"cow_map", "-f", "json", "-c", "11", dev.path()});
	uint64_t off = 2048 * 512 + s.slot_block(s.slot_of(11)) * 4096;
	EXPECT_EQ(j.out, strf("[\n  {\"start\": %" PRIu64 ", \"length\": 65536, \"chunk\": 11,"
			      " \"chunks\": 1, \"data\": \"clean\", \"slot\": %" PRIu64 ", \"offset\": %"
			      PRIu64 "}\n]\n", 11 * k, s.slot_of(11), off));
}

TEST(CleanRmap, CleanSlotHoldsACopy)
{
	sim_array s = clean_image();
	temp_file dev(s.dev().bytes());
	std::string slots = strf("%" PRIu64 "..%" PRIu64, s.slot_of(3), s.slot_of(10));
	outcome o = run({"cow_rmap", "--slot", slots, dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find(strf(": slot %" PRIu64 ": data of chunk 10 (array bytes 655360-720895),"
				  " clean (a copy of the origin's)\n", s.slot_of(10))),
		  std::string::npos) << o.out;
	EXPECT_NE(o.out.find(strf(": slot %" PRIu64 ": data of chunk 3 (array bytes 196608-262143)\n",
				  s.slot_of(3))), std::string::npos) << o.out;
}

TEST(CleanLs, CountsCleanChunks)
{
	sim_array s = clean_image();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_ls", "-f", "json", dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("\"mapped_slots\": 9, \"used_slots\": 10,"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"zero_chunks\": 1, \"clean_chunks\": 4}"), std::string::npos) << o.out;
	o = run({"cow_ls", dev.path()});
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find(strf(" %10s %10s %10s ", "MAPPED", "CLEAN", "USED")), std::string::npos)
		<< o.out;
	EXPECT_NE(o.out.find(strf(" %10s %10s %10s ", "9", "4", "10")), std::string::npos) << o.out;

	// A running array: md/cow/clean_chunks.
	char tmpl[] = "/tmp/cow-sysfs-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl));
	std::string sys = tmpl;
	auto put = [&](const std::string &rel, const std::string &v) {
		std::string p = sys + "/" + rel;
		for (size_t i = sys.size() + 1; (i = p.find('/', i)) != std::string::npos; i++)
			mkdir(p.substr(0, i).c_str(), 0755);
		std::ofstream(p) << v << "\n";
	};
	put("block/md127/md/level", "cow");
	put("block/md127/md/cow/origin", "none");
	put("block/md127/md/cow/chunk_size", "65536");
	put("block/md127/md/cow/mapped_chunks", "124");
	put("block/md127/md/cow/zero_chunks", "4");
	put("block/md127/md/cow/clean_chunks", "40");
	put("block/md127/md/cow/used_slots", "125");
	put("block/md127/md/cow/total_slots", "1007");
	put("block/md127/md/cow/meta_blocks", "16");
	put("block/md127/md/cow/state", "ok");
	o = run({"cow_ls", "--sysfs", sys, "--format", "json"});
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("\"mapped_slots\": 120,"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"zero_chunks\": 4, \"clean_chunks\": 40}"), std::string::npos) << o.out;
	std::string cmd = "rm -rf " + sys;
	EXPECT_EQ(system(cmd.c_str()), 0);
}
