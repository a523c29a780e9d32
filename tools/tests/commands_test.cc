// commands_test.cc - what issue 11 asked of the commands: checked output,
// stale dumps refused, non-cow devices named, the common options, JSON
// from cow_check, and the new commands cow_ls, cow_metadata_size and
// cow_rmap.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <streambuf>

#include "commands.h"
#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/sizing.h"
#include "image.h"
#include "run_cmd.h"

using namespace cowmeta;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::temp_file;
using cowtest::outcome;
using cowtest::run;
using cowtest::run_to;

namespace {

// A stream buffer that fails every write (a full disk).
class full_buf : public std::streambuf {
protected:
	int_type overflow(int_type) override { return traits_type::eof(); }
	std::streamsize xsputn(const char *, std::streamsize) override { return 0; }
};

const std::vector<std::string> kCommands = {
	"check", "dump", "restore", "repair", "map", "delta", "ls", "metadata_size", "rmap",
};

}  // namespace

// Defect 2: a failed write of the output is an error (exit 3).
TEST(Output, WriteErrorsAreErrors)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	full_buf fb;
	std::ostream full(&fb);

	for (const char *cmd : {"cow_check", "cow_dump", "cow_map"}) {
		outcome o = run_to(full, {cmd, dev.path()});

		EXPECT_EQ(o.rc, 3) << cmd;
		EXPECT_NE(o.err.find("write error"), std::string::npos) << cmd << ": " << o.err;
		full.clear();
	}
	outcome o = run_to(full, {"cow_metadata_size", "-s", "1G"});
	EXPECT_EQ(o.rc, 3);
	full.clear();
	if (access("/dev/full", W_OK) == 0) {
		for (const char *cmd : {"cow_check", "cow_dump", "cow_map"}) {
			o = run({cmd, "-o", "/dev/full", dev.path()});
			EXPECT_EQ(o.rc, 3) << cmd;
			EXPECT_NE(o.err.find("cannot write /dev/full"), std::string::npos) << o.err;
		}
	}
}

// A refused dump writes nothing: the output file is not even created.
TEST(Output, RefusedDumpCreatesNothing)
{
	sim_array s = cowtest::cli_standard();
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	temp_file dev(s.dev().bytes());
	std::string path = dev.path() + ".json";

	EXPECT_EQ(run({"cow_dump", "-o", path, dev.path()}).rc, 2);
	struct stat st;
	EXPECT_NE(stat(path.c_str(), &st), 0);
}

// Defect 3: a dump of an earlier state is refused (the device was written
// since), unless --force.
TEST(Restore, RefusesAStaleDump)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	temp_file dump(run({"cow_dump", dev.path()}).out);

	s.write(700);
	s.commit();
	temp_file later(s.dev().bytes());
	outcome o = run({"cow_restore", "-i", dump.path(), "-o", later.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("written after the dump"), std::string::npos) << o.err;
	EXPECT_EQ(later.bytes(), s.dev().bytes());	// nothing written
	EXPECT_EQ(run({"cow_restore", "--force", "-i", dump.path(), "-o", later.path()}).rc, 0);
	outcome m = run({"cow_map", "-c", "700", later.path()});
	EXPECT_NE(m.out.find("origin"), std::string::npos) << m.out;

	// The same dump onto the device it was taken of: fine.
	EXPECT_EQ(run({"cow_restore", "-i", dump.path(), "-o", dev.path()}).rc, 0);
}

TEST(Restore, RefusesAnotherArraysMetadata)
{
	sim_array s = cowtest::cli_standard(), t = cowtest::cli_standard();
	t.edit_sb(t.sb_copy(), [](superblock &sb) { sb.array_uuid[3] ^= 0x40; });
	// Images of the data area alone: no md superblock to compare with.
	std::vector<uint8_t> a(s.dev().bytes().begin() + 2048 * 512, s.dev().bytes().end());
	std::vector<uint8_t> b(t.dev().bytes().begin() + 2048 * 512, t.dev().bytes().end());
	temp_file da(a), db(b);
	temp_file dump(run({"cow_dump", "--data-offset", "0", da.path()}).out);

	outcome o = run({"cow_restore", "--data-offset", "0", "-i", dump.path(), "-o", db.path()});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("holds cow metadata of array"), std::string::npos) << o.err;
}

// Defect 4: an md member of another level is not a cow device.
TEST(Check, NotACowDevice)
{
	sim_array s = cowtest::cli_standard();
	std::vector<uint8_t> bytes = s.dev().bytes();
	uint8_t *md = bytes.data() + kMdSb12Offset;

	put_le32(md + 72, 1);	// raid1
	put_le32(md + 216, md_super_csum(md));
	temp_file f(bytes);
	for (const char *cmd : {"cow_check", "cow_dump", "cow_map", "cow_ls"}) {
		outcome o = run({cmd, f.path()});

		EXPECT_EQ(o.rc, 3) << cmd;
		EXPECT_NE(o.err.find("is not a cow device"), std::string::npos) << o.err;
		EXPECT_NE(o.err.find("raid1"), std::string::npos) << o.err;
		EXPECT_EQ(o.out.find("fatal damage"), std::string::npos) << o.out;
	}
}

// Item 5: every command has --help listing the common options, --version,
// and names an unknown option.
TEST(Options, EveryCommand)
{
	for (const std::string &c : kCommands) {
		outcome h = run({"cow_" + c, "--help"});
		outcome v = run({"cow-tools", c, "-V"});
		outcome u = run({"cow_" + c, "--frobnicate"});

		EXPECT_EQ(h.rc, 0) << c;
		for (const char *opt : {"-q, --quiet", "-v, --verbose", "-V, --version", "-h, --help"})
			EXPECT_NE(h.out.find(opt), std::string::npos) << c << " lacks " << opt;
		EXPECT_EQ(v.rc, 0) << c;
		EXPECT_NE(v.out.find("(md-cow tools)"), std::string::npos) << v.out;
		EXPECT_EQ(u.rc, 3) << c;
		EXPECT_NE(u.err.find("unknown option '--frobnicate'"), std::string::npos) << u.err;
	}
	for (const char *c : {"check", "dump", "map", "delta", "ls", "metadata_size", "rmap"}) {
		outcome h = run({std::string("cow_") + c, "--help"});

		EXPECT_NE(h.out.find("-f, --format human|json"), std::string::npos) << c;
		EXPECT_NE(h.out.find("-o, --output FILE"), std::string::npos) << c;
	}
	EXPECT_EQ(run({"cow-tools", "--version"}).rc, 0);
	outcome m = run({"cow_check", "--origin"});
	EXPECT_NE(m.err.find("option '--origin' needs an argument"), std::string::npos) << m.err;
}

// cow_check --format json: findings with kind, severity and location.
TEST(Check, Json)
{
	sim_array s = cowtest::cli_standard();
	s.leak_slot();
	s.commit();
	s.edit_node(0, 1, [](node &n) { n.entries[100] = 0; });	// chunk 607
	temp_file f(s.dev().bytes());
	outcome o = run({"cow_check", "--format", "json", f.path()});

	EXPECT_EQ(o.rc, 2);
	json_reader j(o.out);
	std::string key, result;
	unsigned kinds = 0;
	bool leaked = false, count = false;
	j.begin_object();
	while (j.next_key(key)) {
		if (key == "result") {
			result = j.read_string();
		} else if (key == "findings") {
			j.begin_array();
			while (j.next_element()) {
				std::string k, kind, sev, section;

				j.begin_object();
				while (j.next_key(k)) {
					if (k == "kind")
						kind = j.read_string();
					else if (k == "severity")
						sev = j.read_string();
					else if (k == "location") {
						j.begin_object();
						while (j.next_key(k)) {
							if (k == "section")
								section = j.read_string();
							else
								j.skip_value();
						}
					} else
						j.skip_value();
				}
				kinds++;
				if (kind == "mapped_count") {
					EXPECT_EQ(sev, "fatal");
				}
				if (kind == "leaked_slots") {
					leaked = true;
					EXPECT_EQ(sev, "non_fatal");
					EXPECT_EQ(section, "space accounting");
				}
			}
		} else if (key == "counts") {
			j.begin_object();
			while (j.next_key(key)) {
				count |= key == "mapped_count";
				j.skip_value();
			}
		} else {
			j.skip_value();
		}
	}
	j.expect_end();
	EXPECT_EQ(result, "fatal");
	EXPECT_GE(kinds, 2U);
	EXPECT_TRUE(leaked) << o.out;
	EXPECT_TRUE(count) << o.out;
}

// Item 6: cow_ls on stopped dirty devices and on running arrays (sysfs).
TEST(Ls, DevicesAndArrays)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	outcome o = run({"cow_ls", "-f", "json", dev.path()});

	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("\"mapped_slots\": 50"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("\"used_slots\": " + std::to_string(s.sb().alloc_next)), std::string::npos)
		<< o.out;
	EXPECT_NE(o.out.find("\"state\": \"stopped\""), std::string::npos) << o.out;
	o = run({"cow_ls", dev.path()});
	EXPECT_NE(o.out.find("ARRAY"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("virtio-origin"), std::string::npos) << o.out;

	// A fake sysfs with one running cow array and one raid1.
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
	put("block/md127/md/cow/used_slots", "125");
	put("block/md127/md/cow/total_slots", "1007");
	put("block/md127/md/cow/meta_blocks", "16");
	put("block/md127/md/cow/state", "ok");
	mkdir((sys + "/block/md127/md/dev-vdb").c_str(), 0755);
	put("block/md126/md/level", "raid1");
	o = run({"cow_ls", "--sysfs", sys, "--format", "json"});
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("\"array\": \"/dev/md127\", \"dirty\": \"/dev/vdb\", \"origin\": \"none\","
			     " \"chunk_bytes\": 65536, \"mapped_slots\": 124, \"used_slots\": 125,"
			     " \"free_slots\": 882, \"total_slots\": 1007, \"meta_blocks\": 16, \"state\": \"ok\""),
		  std::string::npos) << o.out;
	EXPECT_EQ(o.out.find("md126"), std::string::npos) << o.out;
	std::string cmd = "rm -rf " + sys;
	EXPECT_EQ(system(cmd.c_str()), 0);
}

// Item 7: the numbers md-cow.rst gives for 1 TiB of origin.
TEST(MetadataSize, MatchesTheDocumentedMemoryUse)
{
	sizing_input in;
	sizing s;

	in.array_bytes = 1ULL << 40;
	in.chunk_bytes = 65536;
	ASSERT_TRUE(compute_sizing(in, s));
	EXPECT_EQ(s.chunks, 16ULL << 20);
	EXPECT_EQ(s.ram_chunk_bitmap, 2ULL << 20);	// "2 MiB of bitmap"
	EXPECT_EQ(s.leaves, 33092U);			// "33,092 leaves"
	EXPECT_EQ(s.interior, 66U + 1);			// 66 at level 1, and the root
	EXPECT_EQ(s.ram_leaf_cache, 1024 * kNodeMemBytes);	// "at most 4.06 MiB"
	in.chunk_bytes = 4096;
	ASSERT_TRUE(compute_sizing(in, s));
	EXPECT_EQ(s.ram_chunk_bitmap, 32ULL << 20);	// "32 MiB"
	EXPECT_NEAR(static_cast<double>(s.ram_interior) / (1 << 20), 4.2, 0.1);	// "4.2 MiB"

	// The dirty device holds what sim_array (the kernel's model) needs.
	in.array_bytes = 64ULL << 20;
	in.chunk_bytes = 65536;
	in.written = 0.5;
	in.data_offset_bytes = 1 << 20;
	ASSERT_TRUE(compute_sizing(in, s));
	sim_params p;
	p.dirty_bytes = s.dirty_bytes;
	sim_array a(p);
	for (uint64_t c = 0; c < s.written_chunks; c++)
		a.write(c * 2);	// scattered: the most map nodes
	a.commit();

	outcome o = run({"cow_metadata_size", "-s", "64M", "-w", "50%", "-q", "--md-data-offset", "1M"});
	EXPECT_EQ(o.rc, 0);
	EXPECT_EQ(o.out, std::to_string(s.dirty_bytes) + "\n");
	EXPECT_EQ(run({"cow_metadata_size", "-s", "64M", "-c", "3K"}).rc, 3);
	EXPECT_EQ(run({"cow_metadata_size", "-c", "64K"}).rc, 3);

	// Copy-on-read: one more bit per chunk (2 MiB per TiB at 64 KiB).
	in.array_bytes = 1ULL << 40;
	in.copy_on_read = false;
	ASSERT_TRUE(compute_sizing(in, s));
	uint64_t without = s.ram_total;
	EXPECT_EQ(s.ram_clean_bitmap, 0U);
	in.copy_on_read = true;
	ASSERT_TRUE(compute_sizing(in, s));
	EXPECT_EQ(s.ram_clean_bitmap, 2ULL << 20);
	EXPECT_EQ(s.ram_total, without + (2ULL << 20));
	o = run({"cow_metadata_size", "-s", "1T", "--copy-on-read"});
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("clean-chunk bitmap 2.0 MiB (copy-on-read)"), std::string::npos) << o.out;
	o = run({"cow_metadata_size", "-s", "1T", "--copy-on-read", "-f", "json"});
	EXPECT_NE(o.out.find("\"clean_bitmap\": 2097152"), std::string::npos) << o.out;
}

// Item 8: cow_rmap from sectors and slots to what they hold.
TEST(Rmap, SectorsAndSlots)
{
	sim_array s = cowtest::cli_standard();
	temp_file dev(s.dev().bytes());
	uint64_t slot = s.slot_of(605);
	uint64_t sector = 2048 + s.slot_block(slot) * 8 + 3;

	outcome o = run({"cow_rmap", "--sector", std::to_string(sector), dev.path()});
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("slot " + std::to_string(slot) + ": data of chunk 605"), std::string::npos)
		<< o.out;
	o = run({"cow_rmap", "-s", "2048..2055", "--slot", "1", "--slot", "100000", dev.path()});
	EXPECT_NE(o.out.find("cow superblock copy A"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("slot 1: map metadata: map node level 1 index 0"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("beyond md's data area"), std::string::npos) << o.out;
	o = run({"cow_rmap", "-f", "json", "--slot", std::to_string(slot), dev.path()});
	EXPECT_NE(o.out.find("\"chunk\": 605"), std::string::npos) << o.out;
	EXPECT_EQ(run({"cow_rmap", dev.path()}).rc, 3);
}
