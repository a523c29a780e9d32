// crash_test.cc - cow_restore and cow_repair are crash safe: every write they
// make is logged, and every state a crash could leave (tests/image.h,
// for_each_crash_state) must be a device the kernel accepts that serves
// either the data before or the data after, never an overwritten map.
#include <gtest/gtest.h>

#include "cowmeta/dump_format.h"
#include "image.h"
#include "views.h"

using namespace cowmeta;
using cowtest::check_of;
using cowtest::device_view;
using cowtest::dump_of;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::write_log_device;

namespace {

// Restore @d onto @s's device through a write log; the log and the result.
std::vector<write_log_device::op> logged_restore(sim_array &s, const metadata_dump &d,
						 restore_info *info = nullptr, bool salvaged = false)
{
	write_log_device log(s.dev());
	device_view v(log);
	std::string err;
	restore_options o;

	o.now = 1800000000;
	o.salvaged = salvaged;
	EXPECT_TRUE(restore_metadata(*v.area, v.layout, d, o, err, info)) << err;
	return log.log();
}

// Each crash state: no fatal damage, and the mappings are @runs.
void expect_every_state_serves(const std::vector<uint8_t> &before,
			       const std::vector<write_log_device::op> &ops,
			       const std::vector<mapping_run> &runs)
{
	size_t n = cowtest::for_each_crash_state(before, ops, [&](memory_device &img,
								  const std::string &what) {
		std::string text;
		check_result r = check_of(img, &text);

		EXPECT_NE(r.worst, severity::fatal) << "crash " << what << ":\n" << text;
		if (r.worst == severity::fatal)
			return false;
		EXPECT_EQ(dump_of(img).runs, runs) << "crash " << what;
		return true;
	});
	EXPECT_GT(n, ops.size());
}

void crash_restore_same(const sim_params &p, const std::vector<uint64_t> &chunks, int commits = 1)
{
	sim_array s(p);

	for (int c = 0; c < commits; c++) {
		for (uint64_t chunk : chunks)
			s.write(chunk + static_cast<uint64_t>(c) * 3);
		s.commit();
	}
	metadata_dump d = dump_of(s.dev());
	std::vector<uint8_t> before = s.dev().bytes();
	auto ops = logged_restore(s, d);

	expect_every_state_serves(before, ops, d.runs);
	std::string text;
	EXPECT_EQ(check_of(s.dev(), &text).worst, severity::none) << text;
}

}  // namespace

// The kernel puts a new unit after the data slot that needed it, so the
// live map sits above the highest data slot: where a restore lays out a
// map "after the data".
TEST(CrashSafety, RestoreOneChunk64K)
{
	crash_restore_same(sim_params(), {0});
}

TEST(CrashSafety, RestoreFewChunks8K)
{
	sim_params p;
	p.chunk_sectors = 16;	// one pair per unit
	crash_restore_same(p, {0, 1, 700, 5000});
}

TEST(CrashSafety, RestoreShapes)
{
	sim_params p;
	std::vector<uint64_t> scattered;

	for (uint64_t c = 0; c < 1000; c += 37)
		scattered.push_back(c);
	crash_restore_same(p, scattered, 3);
	p.chunk_sectors = 8;	// two-slot units
	crash_restore_same(p, scattered, 2);
	p.chunk_sectors = 2048;	// depth 1
	p.dirty_bytes = 40ULL << 20;
	crash_restore_same(p, {0, 3, 9}, 2);
}

// Format 2: zero chunks (no slot) and free slots (below alloc_next, holding
// nothing) are restored crash safely too; every state checks clean of
// fatal damage and serves the same mappings, zero chunks included.
TEST(CrashSafety, RestoreZeroChunksAndFreeSlots)
{
	for (uint32_t chunk : {128U, 8U}) {
		sim_params p;
		p.format2 = true;
		p.chunk_sectors = chunk;
		sim_array s(p);

		for (uint64_t c = 0; c < 12; c++)
			s.write(c * 5);
		s.commit();
		s.zero(10);	// its slot becomes free
		s.discard(20);	// its slot becomes free
		s.zero(3);
		s.zero(600);	// a new leaf
		s.commit();
		s.write(7);	// the lowest free slot
		s.commit();
		metadata_dump d = dump_of(s.dev());
		std::vector<uint8_t> before = s.dev().bytes();
		auto ops = logged_restore(s, d);

		expect_every_state_serves(before, ops, d.runs);
		std::string text;
		check_result r = check_of(s.dev(), &text);
		EXPECT_EQ(r.worst, severity::none) << text;
		EXPECT_EQ(r.zero_chunks, 3U) << text;
	}
}

// A dump of another state of the same array (restored with the override):
// every crash state serves the old or the new mappings.
TEST(CrashSafety, RestoreOtherMappings)
{
	sim_array s;

	for (uint64_t c = 0; c < 30; c++)
		s.write(c * 11);
	s.commit();
	metadata_dump d = dump_of(s.dev());
	std::vector<mapping_run> old = d.runs;
	d.runs.resize(d.runs.size() / 2);
	d.sb.mapped_chunks = 0;
	std::vector<uint8_t> before = s.dev().bytes();
	auto ops = logged_restore(s, d);

	cowtest::for_each_crash_state(before, ops, [&](memory_device &img, const std::string &what) {
		std::string text;
		check_result r = check_of(img, &text);

		EXPECT_NE(r.worst, severity::fatal) << "crash " << what << ":\n" << text;
		if (r.worst == severity::fatal)
			return false;
		std::vector<mapping_run> now = dump_of(img).runs;
		EXPECT_TRUE(now == old || now == d.runs) << "crash " << what;
		return true;
	});
}

// Repair in place: until the repaired superblock is durable, what a second
// repair would salvage is unchanged; after it, the device is valid.
TEST(CrashSafety, RepairInPlace)
{
	for (uint32_t chunk : {128U, 16U}) {
		sim_params p;
		p.chunk_sectors = chunk;
		sim_array s(p);

		for (uint64_t c = 0; c < 20; c++)
			s.write(c * 31);
		s.commit();
		s.write(2);	// leaf 0 again: its other copy now in force
		s.write(chunk == 128 ? 1020 : 8000);	// a new leaf, after its data
		s.commit();
		block_buf b = s.read(s.node_pair(0, 0) + s.node_copy(0, 0));
		b[500] ^= 4;
		s.write_block(s.node_pair(0, 0) + s.node_copy(0, 0), b);
		ASSERT_EQ(check_of(s.dev()).worst, severity::fatal);

		metadata_dump salvaged = dump_of(s.dev(), true);
		salvaged.sb.flags &= ~kFlagNeedsCheck;
		std::vector<uint8_t> before = s.dev().bytes();
		auto ops = logged_restore(s, salvaged, nullptr, true);

		cowtest::for_each_crash_state(before, ops, [&](memory_device &img,
							       const std::string &what) {
			std::string text;
			check_result r = check_of(img, &text);

			if (r.worst != severity::fatal) {
				EXPECT_EQ(dump_of(img).runs, salvaged.runs) << "crash " << what;
				return true;
			}
			EXPECT_EQ(dump_of(img, true).runs, salvaged.runs)
				<< "crash " << what << ": a second repair salvages less:\n" << text;
			return !testing::Test::HasFailure();
		});
		std::string text;
		EXPECT_NE(check_of(s.dev(), &text).worst, severity::fatal) << text;
	}
}
