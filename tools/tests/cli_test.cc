// cli_test.cc - the commands as users run them: argument handling, exit
// codes, output, and the dump | restore pipeline on image files.
#include <gtest/gtest.h>

#include <sstream>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/superblock.h"
#include "image.h"
#include "run_cmd.h"

using namespace cowmeta;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::temp_file;
using cowtest::outcome;
using cowtest::run;

namespace {

superblock sb_in_force(const temp_file &f, int copy)
{
	std::vector<uint8_t> bytes = f.bytes();
	block_buf b;
	superblock s;

	std::copy_n(bytes.begin() + 2048 * 512 + copy * 4096, 4096, b.begin());
	superblock_traits::unpack(b, s);
	return s;
}

}  // namespace

TEST(Cli, HelpAndDispatch)
{
	for (const char *c : {"check", "dump", "restore", "repair", "map", "delta"}) {
		outcome a = run({"cow-tools", c, "--help"});
		outcome b = run({std::string("/usr/sbin/cow_") + c, "-h"});

		EXPECT_EQ(a.rc, 0) << c;
		EXPECT_EQ(b.rc, 0) << c;
		EXPECT_EQ(a.out, b.out);
		EXPECT_NE(a.out.find(std::string("Usage: cow_") + c), std::string::npos);
	}
	EXPECT_EQ(run({"cow-tools", "--help"}).rc, 0);
	EXPECT_EQ(run({"cow-tools"}).rc, 3);
	EXPECT_EQ(run({"cow-tools", "frobnicate"}).rc, 3);
	EXPECT_EQ(run({"cow-tools", "cow_check", "--no-such-option", "x"}).rc, 3);
	EXPECT_EQ(run({"cow_check"}).rc, 3);
	EXPECT_EQ(run({"cow_check", "/nonexistent/device"}).rc, 3);
	EXPECT_EQ(run({"cow_check", "--data-offset", "x", "/dev/null"}).rc, 3);
}

TEST(Cli, CheckExitCodes)
{
	sim_array s = cowtest::cli_standard();
	temp_file clean(s.dev().bytes());

	outcome o = run({"cow_check", clean.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_NE(o.out.find("examining cow superblock"), std::string::npos);
	o = run({"cow_check", "-q", clean.path()});
	EXPECT_EQ(o.rc, 0);
	EXPECT_EQ(o.out, "");

	s.leak_slot();
	s.commit();
	temp_file leaky(s.dev().bytes());
	EXPECT_EQ(run({"cow_check", leaky.path()}).rc, 1);

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	temp_file bad(s.dev().bytes());
	o = run({"cow_check", bad.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.out.find("error: map holds"), std::string::npos) << o.out;

	std::vector<uint8_t> tiny(100);
	temp_file t(tiny);
	EXPECT_EQ(run({"cow_check", t.path()}).rc, 3);
}

TEST(Cli, CheckDataAreaImage)
{
	sim_array s = cowtest::cli_standard();
	std::vector<uint8_t> area(s.dev().bytes().begin() + 2048 * 512, s.dev().bytes().end());
	temp_file f(area);

	outcome o = run({"cow_check", "--data-offset", "0", f.path()});
	EXPECT_EQ(o.rc, 0) << o.out << o.err;
	EXPECT_EQ(run({"cow_check", f.path()}).rc, 3);	// no md superblock
}

TEST(Cli, ClearNeedsCheck)
{
	sim_array s = cowtest::cli_standard();
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.flags |= kFlagNeedsCheck; });
	temp_file f(s.dev().bytes());

	outcome o = run({"cow_check", "--clear-needs-check", f.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_NE(o.out.find("needs_check flag cleared"), std::string::npos);
	// Written to the other copy as a commit without changes: the copy
	// that was in force is untouched (a torn write cannot lose it).
	superblock was = sb_in_force(f, s.sb_copy()), now = sb_in_force(f, !s.sb_copy());
	EXPECT_TRUE(was.flags & kFlagNeedsCheck);
	EXPECT_FALSE(now.flags & kFlagNeedsCheck);
	EXPECT_EQ(now.seq, was.seq + 1);
	EXPECT_EQ(now.map_root, was.map_root);
	o = run({"cow_check", f.path()});
	EXPECT_EQ(o.rc, 0) << o.out;
	EXPECT_EQ(o.out.find("needs_check flag is set"), std::string::npos) << o.out;

	// Only non-fatal damage (a slot leaked by a crash, which the kernel
	// lives with): cleared, and the exit code still says what was found.
	s.leak_slot();
	s.commit();
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.flags |= kFlagNeedsCheck; });
	temp_file g(s.dev().bytes());
	o = run({"cow_check", "--clear-needs-check", g.path()});
	EXPECT_EQ(o.rc, 1) << o.out;
	EXPECT_FALSE(sb_in_force(g, !s.sb_copy()).flags & kFlagNeedsCheck) << o.out;

	// Fatal damage: the flag stays.
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	temp_file h(s.dev().bytes());
	o = run({"cow_check", "--clear-needs-check", h.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.out.find("needs_check flag left set"), std::string::npos) << o.out;
	EXPECT_TRUE(sb_in_force(h, s.sb_copy()).flags & kFlagNeedsCheck);
}

TEST(Cli, DumpRestoreDump)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes()), copy(s.dev().bytes()), json;

	outcome d1 = run({"cow_dump", dev.path()});
	ASSERT_EQ(d1.rc, 0) << d1.err;
	EXPECT_EQ(run({"cow_dump", "-o", json.path(), dev.path()}).rc, 0);
	EXPECT_EQ(json.text(), d1.out);
	outcome r = run({"cow_restore", "-i", json.path(), "-o", copy.path()});
	ASSERT_EQ(r.rc, 0) << r.err;
	outcome d2 = run({"cow_dump", copy.path()});
	ASSERT_EQ(d2.rc, 0) << d2.err;

	dump_collector a, b;
	parse_dump(d1.out, a);
	parse_dump(d2.out, b);
	EXPECT_EQ(a.d.runs, b.d.runs);
	EXPECT_EQ(a.d.sb.array_uuid, b.d.sb.array_uuid);
	EXPECT_EQ(run({"cow_delta", json.path(), json.path()}).rc, 0);

	outcome h = run({"cow_dump", "--format", "human", dev.path()});
	EXPECT_EQ(h.rc, 0);
	EXPECT_NE(h.out.find("50 chunks mapped in 3 runs"), std::string::npos) << h.out;
	EXPECT_EQ(run({"cow_dump", "--format", "xml", dev.path()}).rc, 3);
}

TEST(Cli, DumpRefusesFatalDamage)
{
	sim_array s = cowtest::cli_standard();
	s.edit_node(0, 0, [](node &n) { n.entries[0] |= 1ULL << 60; });
	temp_file dev(s.dev().bytes());

	outcome o = run({"cow_dump", dev.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_EQ(o.out, "");
	o = run({"cow_dump", "--repair", dev.path()});
	EXPECT_EQ(o.rc, 1);
	dump_collector c;
	parse_dump(o.out, c);
	EXPECT_EQ(c.d.runs.size(), 2U);	// chunks 1-39 and 600-609
}

TEST(Cli, RestoreRejectsBadDumps)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	temp_file junk(std::string("{\"format\": \"md-cow-dump\""));
	temp_file wrong(std::string("{\"format\": \"md-cow-dump\", \"version\": 1, \"superblock\": "
				    "{\"seq\": 1, \"flags\": 0, \"array_uuid\": \"00000000-0000-0000-0000-000000000000\", "
				    "\"array_sectors\": 131072, \"chunk_sectors\": 128, \"data_start\": 16}, "
				    "\"mappings\": [{\"origin_chunk\": 5, \"slot\": 0, \"length\": 1}, "
				    "{\"origin_chunk\": 4, \"slot\": 1, \"length\": 1}]}"));

	EXPECT_EQ(run({"cow_restore", "-i", junk.path(), "-o", dev.path()}).rc, 2);
	outcome o = run({"cow_restore", "-i", wrong.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("out of order"), std::string::npos) << o.err;
	EXPECT_EQ(run({"cow_restore", "-i", dev.path()}).rc, 3);
	EXPECT_EQ(run({"cow_check", dev.path()}).rc, 0);	// untouched
}

TEST(Cli, Repair)
{
	sim_array s = cowtest::cli_standard();
	block_buf b = s.read(s.node_pair(0, 1) + s.node_copy(0, 1));
	b[100] ^= 1;
	s.write_block(s.node_pair(0, 1) + s.node_copy(0, 1), b);
	temp_file dev(s.dev().bytes());

	EXPECT_EQ(run({"cow_check", "-q", dev.path()}).rc, 2);
	outcome o = run({"cow_repair", "-n", "-i", dev.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_NE(o.out.find("lost: map node level 0 index 1"), std::string::npos) << o.out;
	EXPECT_EQ(run({"cow_check", "-q", dev.path()}).rc, 2);
	o = run({"cow_repair", "-i", dev.path(), "-o", dev.path()});
	EXPECT_EQ(o.rc, 1) << o.err;
	o = run({"cow_check", dev.path()});
	EXPECT_EQ(o.rc, 0) << o.out;	// the map took the lost chunks' slots
	outcome m = run({"cow_map", "-c", "605", dev.path()});
	EXPECT_EQ(m.rc, 0);
	EXPECT_NE(m.out.find("origin"), std::string::npos) << m.out;
}

TEST(Cli, Map)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());

	outcome o = run({"cow_map", dev.path()});
	ASSERT_EQ(o.rc, 0) << o.err;
	// Chunk 0 took slot 0, the map's first unit slot 1, chunks 1.. slot 2..
	EXPECT_NE(o.out.find("1-39 "), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("40-599 "), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("610-1023 "), std::string::npos) << o.out;

	uint64_t slot = s.slot_of(605);
	uint64_t off = 2048 * 512 + s.slot_block(slot) * 4096;
	o = run({"cow_map", "--origin-chunk", "605", dev.path()});
	EXPECT_EQ(o.rc, 0);
	char want[64];
	std::snprintf(want, sizeof(want), "dirty 0x%llx (slot %llu)",
		      static_cast<unsigned long long>(off), static_cast<unsigned long long>(slot));
	EXPECT_NE(o.out.find(want), std::string::npos) << o.out << want;

	o = run({"cow_map", "--format", "json", dev.path()});
	ASSERT_EQ(o.rc, 0);
	json_reader j(o.out);
	unsigned n = 0;
	j.begin_array();
	while (j.next_element()) {
		j.skip_value();
		n++;
	}
	j.expect_end();
	EXPECT_EQ(n, 5U);
	EXPECT_EQ(run({"cow_map", "-c", "1024", dev.path()}).rc, 3);
}

TEST(Cli, Delta)
{
	sim_array s = cowtest::cli_standard();
	temp_file a(run({"cow_dump", temp_file(s.dev().bytes()).path()}).out);
	s.write(100);
	s.write(39);
	s.commit();
	temp_file b(run({"cow_dump", temp_file(s.dev().bytes()).path()}).out);

	outcome o = run({"cow_delta", a.path(), b.path()});
	EXPECT_EQ(o.rc, 1);
	EXPECT_NE(o.out.find("+ chunks 100  slots"), std::string::npos) << o.out;
	o = run({"cow_delta", b.path(), a.path()});
	EXPECT_NE(o.out.find("- chunks 100  slots"), std::string::npos) << o.out;
	EXPECT_EQ(run({"cow_delta", a.path()}).rc, 3);
}
