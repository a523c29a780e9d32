// grow_test.cc - cow_grow: size and step parsing, the step arithmetic, and
// the whole command against a fake sysfs tree, with a fake lvextend and
// mdadm that "grow" by rewriting the fake sysfs files.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <streambuf>

#include "commands.h"
#include "grow.h"
#include "run_cmd.h"

using cowtest::outcome;
using cowtest::run;
using namespace cowtools::grow;

namespace {

constexpr uint64_t kMiB = 1ULL << 20;

uint64_t size_of(const std::string &s)
{
	uint64_t v = 0;

	EXPECT_TRUE(parse_size(s, v)) << s;
	return v;
}

}  // namespace

TEST(GrowParse, Size)
{
	EXPECT_EQ(size_of("100"), 100 * kMiB);	// no suffix: MiB, as lvextend -L
	for (const char *k : {"1K", "1k", "1KiB", "1kib", "1KB", "2s", "1024b", "1024B"})
		EXPECT_EQ(size_of(k), 1024U) << k;
	EXPECT_EQ(size_of("64M"), 64 * kMiB);
	EXPECT_EQ(size_of("64MiB"), 64 * kMiB);
	EXPECT_EQ(size_of("3G"), 3ULL << 30);
	EXPECT_EQ(size_of("2t"), 2ULL << 40);
	EXPECT_EQ(size_of("7s"), 7U * 512);
	EXPECT_EQ(size_of("1b"), 1U);
	EXPECT_EQ(size_of("16777215T"), 16777215ULL << 40);
	EXPECT_EQ(size_of("18446744073709551615b"), UINT64_MAX);

	for (const char *bad : {"", "-1", "-1G", "+1G", "abc", "G", "1X", "1P", "1.5G", "1 G", " 1G",
				"1G ", "1Gx", "1GiBs", "1iB", "0", "0G", "0b", "0%", "20%",
				"18446744073709551616b",	// 2^64
				"99999999999999999999999",	// overflows while reading digits
				"16777216T",			// 2^64
				"17592186044416M",		// 2^64
				"36028797018963968s"}) {	// 2^64
		uint64_t v = 12345;

		EXPECT_FALSE(parse_size(bad, v)) << "'" << bad << "'";
		EXPECT_EQ(v, 12345U) << bad;
	}
}

TEST(GrowParse, Step)
{
	step st;

	ASSERT_TRUE(parse_step("20%", st));
	EXPECT_TRUE(st.percent);
	EXPECT_EQ(st.value, 20U);
	ASSERT_TRUE(parse_step("1%", st));
	EXPECT_EQ(st.value, 1U);
	ASSERT_TRUE(parse_step("1000%", st));
	EXPECT_EQ(st.value, 1000U);
	ASSERT_TRUE(parse_step("0100%", st));
	EXPECT_EQ(st.value, 100U);
	ASSERT_TRUE(parse_step("256M", st));
	EXPECT_FALSE(st.percent);
	EXPECT_EQ(st.value, 256 * kMiB);
	ASSERT_TRUE(parse_step("8", st));	// MiB
	EXPECT_FALSE(st.percent);
	EXPECT_EQ(st.value, 8 * kMiB);

	for (const char *bad : {"", "%", "0%", "00%", "1001%", "5000%", "99999999999999999999%", "-5%",
				"+5%", "5.5%", "abc%", "5%%", "%5", "5 %", "0", "-1G", "abc", "20%G"}) {
		step s;

		EXPECT_FALSE(parse_step(bad, s)) << "'" << bad << "'";
	}
}

TEST(GrowNextSize, StepsCapAndMinimum)
{
	step pct20{true, 20}, pct1000{true, 1000}, mib64{false, 64 * kMiB};

	EXPECT_EQ(next_size(100 * kMiB, pct20, 0), 120 * kMiB);
	EXPECT_EQ(next_size(100 * kMiB, mib64, 0), 164 * kMiB);
	EXPECT_EQ(next_size(100 * kMiB, pct1000, 0), 1100 * kMiB);
	// 20% of 64 MiB is not a whole number of sectors: rounded up.
	EXPECT_EQ(next_size(64 * kMiB, pct20, 0), 80530944U);
	EXPECT_EQ(80530944U % 512, 0U);
	// At least 1 MiB per step.
	EXPECT_EQ(next_size(4 * kMiB, pct20, 0), 5 * kMiB);
	EXPECT_EQ(next_size(4 * kMiB, step{false, 512}, 0), 5 * kMiB);
	EXPECT_EQ(next_size(0, pct20, 0), kMiB);
	// A byte step is rounded up to whole sectors.
	EXPECT_EQ(next_size(4 * kMiB, step{false, kMiB + 1}, 0), 5 * kMiB + 512);

	// Capped at --max; --max is rounded down to whole sectors.
	EXPECT_EQ(next_size(100 * kMiB, pct20, 110 * kMiB), 110 * kMiB);
	EXPECT_EQ(next_size(100 * kMiB, pct20, 110 * kMiB + 100), 110 * kMiB);
	EXPECT_EQ(next_size(100 * kMiB, pct20, 200 * kMiB), 120 * kMiB);
	EXPECT_EQ(next_size(100 * kMiB, mib64, 100 * kMiB + 511), 100 * kMiB);
	// No room: the current size.
	EXPECT_EQ(next_size(110 * kMiB, pct20, 110 * kMiB), 110 * kMiB);
	EXPECT_EQ(next_size(120 * kMiB, pct20, 110 * kMiB), 120 * kMiB);

	// No overflow near the top.
	const uint64_t top = UINT64_MAX & ~511ULL;
	EXPECT_EQ(next_size(top, pct1000, 0), top);
	EXPECT_EQ(next_size(top - 4096, pct1000, 0), top);
	EXPECT_EQ(next_size(top - 4096, mib64, 0), top);
	EXPECT_EQ(next_size(1ULL << 62, pct1000, 0), top);
	EXPECT_EQ(next_size(1ULL << 60, pct1000, 0), 11ULL << 60);
}

TEST(GrowParse, HumanSizeAndLvName)
{
	EXPECT_EQ(human_size(16 * kMiB), "16.0 MiB");
	EXPECT_EQ(human_size(80530944), "76.8 MiB");
	EXPECT_EQ(human_size(512), "512 B");
	EXPECT_EQ(human_size(1536), "1.5 KiB");
	EXPECT_EQ(human_size(64ULL << 30), "64.0 GiB");
	EXPECT_EQ(human_size(UINT64_MAX), "16.0 EiB");

	EXPECT_EQ(lv_name("vg0-dirty"), "vg0/dirty");
	EXPECT_EQ(lv_name("my--vg-cow--dirty"), "my-vg/cow-dirty");
	EXPECT_EQ(lv_name("vg0-lv-real"), "vg0-lv-real");	// a layer
	EXPECT_EQ(lv_name("plain"), "plain");
	EXPECT_EQ(lv_name("vg0-"), "vg0-");
}

// The real runner: exit status, a signal, a program not in PATH.
TEST(GrowExec, ExitStatus)
{
	EXPECT_EQ(exec_command({"true"}), 0);
	EXPECT_EQ(exec_command({"false"}), 1);
	EXPECT_EQ(exec_command({"sh", "-c", "exit 5"}), 5);
	EXPECT_EQ(exec_command({"sh", "-c", "kill -9 $$"}), 128 + 9);
	EXPECT_EQ(exec_command({"cow-grow-test-no-such-program"}), -ENOENT);
	EXPECT_EQ(exec_command({}), -EINVAL);
}

namespace {

// A fake sysfs: md127, a cow array whose dirty device is dm-3, the LV
// vg0/cow-dirty of 64 MiB, 950 of 1000 slots in use, state low.  The fake
// lvextend sets dm-3's size; the fake mdadm --grow sets total_slots from it
// (64 KiB chunks, 24 slots of header) and the state (low while at most 5%
// of the slots are free).
class GrowTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/cow-grow-XXXXXX";

		ASSERT_TRUE(mkdtemp(tmpl));
		root_ = tmpl;
		sys_ = root_ + "/sys";
		put("block/md127/md/level", "cow");
		put("block/md127/md/cow/state", "low");
		put("block/md127/md/cow/chunk_size", "65536");
		put("block/md127/md/cow/used_slots", "950");
		put("block/md127/md/cow/total_slots", "1000");
		put("block/dm-3/size", std::to_string(64 * kMiB / 512));
		put("block/dm-3/dm/uuid", "LVM-Xq1ZzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstu");
		put("block/dm-3/dm/name", "vg0-cow--dirty");
		mkdir((sys_ + "/block/md127/md/dev-dm-3").c_str(), 0755);
		ASSERT_EQ(symlink("../../../dm-3", (sys_ + "/block/md127/md/dev-dm-3/block").c_str()), 0);
		runner_ = [this](const std::vector<std::string> &argv) { return fake_run(argv); };
	}
	void TearDown() override
	{
		std::string cmd = "rm -rf " + root_;

		EXPECT_EQ(system(cmd.c_str()), 0);
	}

	void put(const std::string &rel, const std::string &v)
	{
		std::string p = sys_ + "/" + rel;

		for (size_t i = root_.size() + 1; (i = p.find('/', i)) != std::string::npos; i++)
			mkdir(p.substr(0, i).c_str(), 0755);
		std::ofstream(p) << v << "\n";
	}
	std::string get(const std::string &rel)
	{
		std::ifstream f(sys_ + "/" + rel);
		std::string s;

		std::getline(f, s);
		return s;
	}
	uint64_t get_u64(const std::string &rel) { return std::stoull(get(rel)); }

	int fake_run(const std::vector<std::string> &argv)
	{
		ran_.push_back(argv);
		if (argv[0] == "lvextend") {
			if (lvextend_status_)
				return lvextend_status_;
			std::string sz = argv.at(2);
			EXPECT_EQ(sz.back(), 'b');
			uint64_t bytes = std::stoull(sz.substr(0, sz.size() - 1));
			EXPECT_EQ(bytes % 512, 0U);
			put("block/dm-3/size", std::to_string(bytes / 512));
			return 0;
		}
		if (argv[0] == "mdadm") {
			if (mdadm_status_ || !mdadm_takes_space_)
				return mdadm_status_;
			uint64_t total = get_u64("block/dm-3/size") * 512 / 65536 - 24;
			uint64_t used = get_u64("block/md127/md/cow/used_slots");
			put("block/md127/md/cow/total_slots", std::to_string(total));
			put("block/md127/md/cow/state", !stay_low_ && total - used > total / 20 ? "ok" : "low");
			return 0;
		}
		ADD_FAILURE() << "unexpected command " << argv[0];
		return 127;
	}

	outcome grow(std::vector<std::string> args, std::ostream *o = nullptr)
	{
		std::vector<char *> argv;
		std::ostringstream os, es;

		args.insert(args.begin(), {"cow_grow", "--sysfs", sys_});
		for (std::string &a : args)
			argv.push_back(a.data());
		argv.push_back(nullptr);
		int rc = run_grow(static_cast<int>(args.size()), argv.data(), o ? *o : os, es, runner_);
		return {rc, os.str(), es.str()};
	}

	std::vector<std::string> lvextend(uint64_t bytes)
	{
		return {"lvextend", "--size", std::to_string(bytes) + "b", "/dev/mapper/vg0-cow--dirty"};
	}
	const std::vector<std::string> mdadm_ = {"mdadm", "--grow", "--size=max", "/dev/md127"};

	std::string root_, sys_;
	command_runner runner_;
	std::vector<std::vector<std::string>> ran_;
	int lvextend_status_ = 0, mdadm_status_ = 0;
	bool mdadm_takes_space_ = true, stay_low_ = false;
};

size_t count(const std::string &s, const std::string &what)
{
	size_t n = 0;

	for (size_t p = 0; (p = s.find(what, p)) != std::string::npos; p += what.size())
		n++;
	return n;
}

}  // namespace

TEST_F(GrowTest, OkStateRunsNothing)
{
	put("block/md127/md/cow/state", "ok");
	outcome o = grow({"md127"});

	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(ran_.empty());
	EXPECT_EQ(o.out, "");
	EXPECT_EQ(o.err, "");
	o = grow({"-v", "md127"});
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_NE(o.out.find("md127: state ok: nothing to do"), std::string::npos) << o.out;
	EXPECT_TRUE(ran_.empty());
}

TEST_F(GrowTest, LowStateGrowsOnce)
{
	outcome o = grow({"md127"});

	EXPECT_EQ(o.rc, 0) << o.err;
	ASSERT_EQ(ran_.size(), 2U);
	EXPECT_EQ(ran_[0], lvextend(80530944));	// 64 MiB + 20%, whole sectors
	EXPECT_EQ(ran_[1], mdadm_);
	EXPECT_EQ(o.out, "cow_grow: md127: dirty device vg0-cow--dirty grown from 64.0 MiB to 76.8 MiB"
			 " (950 of 1204 slots in use)\n");
	EXPECT_EQ(o.err, "");
	EXPECT_EQ(get("block/md127/md/cow/state"), "ok");
}

TEST_F(GrowTest, FullStateGrowsUntilOk)
{
	put("block/md127/md/cow/state", "full");
	put("block/md127/md/cow/used_slots", "1000");
	outcome o = grow({"--step=1M", "md127"});

	// 65, 66, 67 MiB leave at most 5% free; 68 MiB does not.
	EXPECT_EQ(o.rc, 0) << o.err;
	ASSERT_EQ(ran_.size(), 8U);
	for (unsigned i = 0; i < 4; i++) {
		EXPECT_EQ(ran_[2 * i], lvextend((65 + i) * kMiB)) << i;
		EXPECT_EQ(ran_[2 * i + 1], mdadm_) << i;
	}
	EXPECT_EQ(count(o.out, " grown from "), 4U) << o.out;
	EXPECT_NE(o.out.find("grown from 67.0 MiB to 68.0 MiB (1000 of 1064 slots in use)\n"),
		  std::string::npos) << o.out;
	EXPECT_EQ(get("block/md127/md/cow/state"), "ok");

	// -q: nothing on standard output.
	put("block/md127/md/cow/state", "low");
	ran_.clear();
	o = grow({"-q", "--step=1M", "md127"});
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(ran_.size(), 2U);
	EXPECT_EQ(o.out, "");
}

TEST_F(GrowTest, StillLowAfter64Steps)
{
	stay_low_ = true;
	outcome o = grow({"--step=1M", "md127"});

	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(ran_.size(), 2U * kMaxSteps);
	EXPECT_NE(o.err.find("md127: still low after 64 steps"), std::string::npos) << o.err;
	EXPECT_EQ(count(o.out, " grown from "), 64U);
	EXPECT_EQ(get_u64("block/dm-3/size") * 512, (64 + 64) * kMiB);
}

TEST_F(GrowTest, NotAnLvIsNotApplicable)
{
	put("block/dm-3/dm/uuid", "CRYPT-LUKS2-0123456789abcdef-cow");
	outcome o = grow({"md127"});

	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("cow_grow: dirty device dm-3 of md127 is not an LVM logical volume: cow_grow "
			     "cannot grow it"),
		  std::string::npos) << o.err;
	EXPECT_TRUE(ran_.empty());

	// Not a device-mapper device at all (a disk, the fallback of a
	// member without a block link).
	std::string cmd = "rm -rf " + sys_ + "/block/md127/md/dev-dm-3";
	ASSERT_EQ(system(cmd.c_str()), 0);
	mkdir((sys_ + "/block/md127/md/dev-vdb").c_str(), 0755);
	o = grow({"md127"});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("dirty device vdb of md127 is not an LVM logical volume"), std::string::npos)
		<< o.err;
	EXPECT_TRUE(ran_.empty());
}

TEST_F(GrowTest, NotACowArray)
{
	put("block/md126/md/level", "raid1");
	outcome o = grow({"md126"});

	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("md126 is not a cow array"), std::string::npos) << o.err;
	o = grow({"md125"});	// no such array
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("md125 is not a running md array"), std::string::npos) << o.err;
	o = grow({root_ + "/no-such-device"});
	EXPECT_EQ(o.rc, 2);
	EXPECT_NE(o.err.find("No such file or directory"), std::string::npos) << o.err;
	EXPECT_TRUE(ran_.empty());
}

TEST_F(GrowTest, AtMaxRunsNothing)
{
	outcome o = grow({"--max=64M", "md127"});

	EXPECT_EQ(o.rc, 1);
	EXPECT_NE(o.err.find("cow_grow: md127: dirty device vg0/cow-dirty is at the maximum size of 64.0 MiB: "
			     "not grown\n"),
		  std::string::npos) << o.err;
	EXPECT_TRUE(ran_.empty());
	o = grow({"--max=32M", "md127"});
	EXPECT_EQ(o.rc, 1);
	EXPECT_TRUE(ran_.empty());

	// Below the next step: up to --max, then at max.
	o = grow({"--max=70M", "md127"});
	EXPECT_EQ(o.rc, 0) << o.err;
	ASSERT_EQ(ran_.size(), 2U);
	EXPECT_EQ(ran_[0], lvextend(70 * kMiB));
	stay_low_ = true;
	put("block/md127/md/cow/state", "low");
	ran_.clear();
	o = grow({"--max=72M", "md127"});
	EXPECT_EQ(o.rc, 1);
	ASSERT_EQ(ran_.size(), 2U);
	EXPECT_EQ(ran_[0], lvextend(72 * kMiB));
	EXPECT_NE(o.out.find("grown from 70.0 MiB to 72.0 MiB"), std::string::npos) << o.out;
	EXPECT_NE(o.err.find("at the maximum size of 72.0 MiB"), std::string::npos) << o.err;
}

TEST_F(GrowTest, LvextendFailing)
{
	lvextend_status_ = 5;
	outcome o = grow({"md127"});

	EXPECT_EQ(o.rc, 1);
	ASSERT_EQ(ran_.size(), 1U);	// mdadm not run
	EXPECT_EQ(ran_[0][0], "lvextend");
	EXPECT_NE(o.err.find("cow_grow: md127: lvextend failed with exit status 5"), std::string::npos) << o.err;
	EXPECT_EQ(o.out, "");

	ran_.clear();
	lvextend_status_ = -ENOENT;
	o = grow({"md127"});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(ran_.size(), 1U);
	EXPECT_NE(o.err.find("cannot run lvextend: No such file or directory"), std::string::npos) << o.err;
}

TEST_F(GrowTest, MdadmFailingOrNotTakingTheSpace)
{
	mdadm_status_ = 1;
	outcome o = grow({"md127"});

	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(ran_.size(), 2U);
	EXPECT_NE(o.err.find("mdadm failed with exit status 1: vg0/cow-dirty was extended but md did not take"
			     " the space"),
		  std::string::npos) << o.err;

	// mdadm "succeeds" but total_slots stays: stop, do not grow again.
	mdadm_status_ = 0;
	mdadm_takes_space_ = false;
	ran_.clear();
	o = grow({"md127"});
	EXPECT_EQ(o.rc, 1);
	EXPECT_EQ(ran_.size(), 2U);
	EXPECT_NE(o.err.find("md did not take the new space"), std::string::npos) << o.err;
}

TEST_F(GrowTest, GrowingDoesNotHelp)
{
	for (const char *s : {"needs-check", "read-only", "failed"}) {
		put("block/md127/md/cow/state", s);
		outcome o = grow({"md127"});

		EXPECT_EQ(o.rc, 2) << s;
		EXPECT_NE(o.err.find(std::string("cow_grow: md127: state ") + s + " ("), std::string::npos) << o.err;
		EXPECT_NE(o.err.find("growing the dirty device does not help"), std::string::npos) << o.err;
		EXPECT_TRUE(ran_.empty()) << s;
	}
	for (const char *s : {"bogus", ""}) {
		put("block/md127/md/cow/state", s);
		outcome o = grow({"md127"});

		EXPECT_EQ(o.rc, 2) << s;
		EXPECT_NE(o.err.find(std::string("unknown state '") + s + "'"), std::string::npos) << o.err;
		EXPECT_TRUE(ran_.empty()) << s;
	}
}

TEST_F(GrowTest, DryRun)
{
	outcome o = grow({"--dry-run", "--step", "50%", "md127"});

	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(ran_.empty());
	EXPECT_EQ(o.out, "cow_grow: md127: would run: lvextend --size 100663296b /dev/mapper/vg0-cow--dirty\n"
			 "cow_grow: md127: would run: mdadm --grow --size=max /dev/md127\n");
	EXPECT_EQ(get("block/dm-3/size"), std::to_string(64 * kMiB / 512));
}

// /dev/md/NAME is a symlink to the array's node: the kernel name is the
// target's.
TEST_F(GrowTest, ResolvesTheDevicePath)
{
	std::ofstream(root_ + "/md127") << "";
	mkdir((root_ + "/md").c_str(), 0755);
	ASSERT_EQ(symlink("../md127", (root_ + "/md/data").c_str()), 0);
	outcome o = grow({root_ + "/md/data"});

	EXPECT_EQ(o.rc, 0) << o.err;
	ASSERT_EQ(ran_.size(), 2U);
	EXPECT_EQ(ran_[1], mdadm_);
}

TEST_F(GrowTest, Usage)
{
	EXPECT_EQ(grow({}).rc, 3);
	EXPECT_EQ(grow({"md127", "md126"}).rc, 3);
	for (const char *bad : {"--step=0%", "--step=1001%", "--step=-5%", "--step=x", "--max=0", "--max=-1G",
				"--max=1Q"}) {
		outcome o = grow({bad, "md127"});

		EXPECT_EQ(o.rc, 3) << bad;
		EXPECT_NE(o.err.find("bad value"), std::string::npos) << o.err;
	}
	EXPECT_TRUE(ran_.empty());

	// Through the dispatcher, by both names.
	outcome h = run({"cow_grow", "--help"});
	EXPECT_EQ(h.rc, 0);
	for (const char *opt : {"Usage: cow_grow [--step=N%|SIZE]", "--step N%|SIZE", "--max SIZE", "--dry-run",
				"--sysfs DIR", "-q, --quiet", "-v, --verbose", "-h, --help", "-V, --version",
				"Exit: 0 grown"})
		EXPECT_NE(h.out.find(opt), std::string::npos) << "lacks " << opt << ":\n" << h.out;
	EXPECT_EQ(run({"cow-tools", "grow", "--help"}).out, h.out);
	outcome v = run({"cow-tools", "grow", "-V"});
	EXPECT_EQ(v.rc, 0);
	EXPECT_NE(v.out.find("cow_grow (md-cow tools)"), std::string::npos) << v.out;
	outcome u = run({"cow_grow", "--frobnicate", "md127"});
	EXPECT_EQ(u.rc, 3);
	EXPECT_NE(u.err.find("unknown option '--frobnicate'"), std::string::npos) << u.err;
	EXPECT_NE(run({"cow-tools", "--help"}).out.find("  grow "), std::string::npos);
}

namespace {

// A stream buffer that fails every write (a full disk).
class full_buf : public std::streambuf {
protected:
	int_type overflow(int_type) override { return traits_type::eof(); }
	std::streamsize xsputn(const char *, std::streamsize) override { return 0; }
};

}  // namespace

// A write error on standard output is exit 3; the growth still happens.
TEST_F(GrowTest, OutputErrors)
{
	full_buf fb;
	std::ostream full(&fb);
	outcome o = grow({"md127"}, &full);

	EXPECT_EQ(o.rc, 3);
	EXPECT_NE(o.err.find("cow_grow: write error on standard output"), std::string::npos) << o.err;
	EXPECT_EQ(ran_.size(), 2U);
	EXPECT_EQ(get("block/md127/md/cow/state"), "ok");
}
