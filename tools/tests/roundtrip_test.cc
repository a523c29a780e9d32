// roundtrip_test.cc - dump -> restore -> dump is a no-op; repair salvages.
#include <gtest/gtest.h>

#include <sstream>

#include "cowmeta/checker.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/endian.h"
#include "cowmeta/handoff.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"
#include "image.h"
#include "views.h"

using namespace cowmeta;
using cowtest::sim_array;
using cowtest::sim_params;
using cowtest::device_view;
using cowtest::dump_of;
using cowtest::check_of;

namespace {

restore_options at(uint64_t now, bool force = false)
{
	restore_options o;

	o.now = now;
	o.force = force;
	return o;
}

void restore_to(block_device &dev, const metadata_dump &d, uint64_t now = 1800000000,
		bool force = false)
{
	device_view v(dev);
	std::string err;

	ASSERT_TRUE(restore_metadata(*v.area, v.layout, d, at(now, force), err)) << err;
}

// The "identity" of a superblock: everything a restore keeps.
void expect_same_identity(const superblock &a, const superblock &b)
{
	EXPECT_EQ(a.array_uuid, b.array_uuid);
	EXPECT_EQ(a.ctime, b.ctime);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.compat, b.compat);
	EXPECT_EQ(a.ro_compat, b.ro_compat);
	EXPECT_EQ(a.incompat, b.incompat);
	EXPECT_EQ(a.array_sectors, b.array_sectors);
	EXPECT_EQ(a.chunk_sectors, b.chunk_sectors);
	EXPECT_EQ(a.origin_sectors, b.origin_sectors);
	EXPECT_EQ(a.origin_fp, b.origin_fp);
	EXPECT_EQ(a.origin_fp_method, b.origin_fp_method);
	EXPECT_EQ(a.locator(), b.locator());
	EXPECT_EQ(a.data_start, b.data_start);
	EXPECT_EQ(a.mapped_chunks, b.mapped_chunks);
}

sim_array workload(const sim_params &p, unsigned seed)
{
	sim_array s(p);
	uint64_t n = (p.array_sectors + p.chunk_sectors - 1) / p.chunk_sectors;
	uint64_t x = seed;

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 60; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			uint64_t c = (x >> 33) % n;

			// Runs of consecutive chunks and scattered ones.
			for (uint64_t k = 0; k < (x >> 61) && c + k < n; k++)
				s.write(c + k);
		}
		s.commit();
	}
	return s;
}

std::vector<sim_params> shapes()
{
	std::vector<sim_params> v;
	sim_params p;

	p.dirty_bytes = 96ULL << 20;
	v.push_back(p);			// 64 KiB chunks, depth 2
	p.chunk_sectors = 8;		// 4 KiB: two-slot metadata units
	v.push_back(p);
	p.chunk_sectors = 16;		// 8 KiB: one pair per unit
	v.push_back(p);
	p.chunk_sectors = 2048;		// 1 MiB, depth 1
	p.dirty_bytes = 80ULL << 20;
	v.push_back(p);
	p = sim_params();
	p.dirty_bytes = 24ULL << 20;
	p.no_origin = true;
	p.array_sectors = 16 * 2048 + 8;	// depth 1, partial last chunk
	v.push_back(p);
	return v;
}

}  // namespace

TEST(RoundTrip, DumpRestoreDumpIsANoOp)
{
	unsigned seed = 1;

	for (const sim_params &p : shapes()) {
		SCOPED_TRACE("chunk " + std::to_string(p.chunk_sectors));
		sim_array s = workload(p, seed++);
		metadata_dump d1 = dump_of(s.dev());
		memory_device copy(s.dev().size());

		copy.bytes() = s.dev().bytes();
		restore_to(copy, d1);
		metadata_dump d2 = dump_of(copy);

		EXPECT_EQ(d1.runs, d2.runs);
		expect_same_identity(d1.sb, d2.sb);
		EXPECT_GT(d2.sb.seq, d1.sb.seq);
		ASSERT_TRUE(d2.ho.has_value());

		// Chunk data was not moved or overwritten.
		for (const auto &m : s.mappings()) {
			block_buf a, b;
			uint64_t off = s.layout().data_offset * 512 + s.slot_block(m.second) * kBlockSize;

			s.dev().read(a.data(), a.size(), off);
			copy.read(b.data(), b.size(), off);
			ASSERT_EQ(a, b) << "chunk " << m.first;
			EXPECT_EQ(get_le64(b.data()), m.first + 1);
		}

		// The restored metadata is clean: the new map took the old
		// map's slots, nothing is leaked, nothing allocated beyond.
		std::string text;
		check_result r = check_of(copy, &text);
		EXPECT_EQ(r.worst, severity::none) << text;
		EXPECT_EQ(d2.sb.alloc_next, d1.sb.alloc_next);
		EXPECT_EQ(d2.sb.meta_blocks, d1.sb.meta_blocks);

		// A restore of the restored metadata is a fixed point.
		restore_to(copy, d2, 1900000000);
		metadata_dump d3 = dump_of(copy);
		EXPECT_EQ(d2.runs, d3.runs);
		d2.sb.seq = d3.sb.seq;
		d2.sb.utime = d3.sb.utime;
		d2.sb.csum = d3.sb.csum;
		d2.sb.map_root_seq = d3.sb.map_root_seq;
		block_buf x, y;
		superblock_traits::pack_raw(d2.sb, x);
		superblock_traits::pack_raw(d3.sb, y);
		EXPECT_EQ(x, y);
	}
}

TEST(RoundTrip, JsonTextIsStable)
{
	sim_params p;
	p.dirty_bytes = 96ULL << 20;
	sim_array s = workload(p, 9);
	metadata_dump d = dump_of(s.dev());
	std::ostringstream t1, t2;
	json_emitter e1(t1);
	dump_collector c;

	d.sb.set_locator(std::string("/dev/weird \"name\"\x01\xfe", 19));
	emit_dump(d, e1);
	parse_dump(t1.str(), c);
	json_emitter e2(t2);
	emit_dump(c.d, e2);
	EXPECT_EQ(t1.str(), t2.str());
	EXPECT_EQ(c.d.runs, d.runs);
	EXPECT_EQ(c.d.sb.locator(), d.sb.locator());
}

TEST(RoundTrip, RestoredImageIsCleanWithoutHoles)
{
	// Only data in slots 0.. (metadata after it): restore leaves no hole.
	sim_array s;
	metadata_dump d;

	d.sb = s.sb();
	d.runs = {{10, 0, 30}, {600, 30, 5}, {1000, 35, 24}};
	restore_to(s.dev(), d);
	std::string text;
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	metadata_dump back = dump_of(s.dev());
	EXPECT_EQ(back.runs, d.runs);
	EXPECT_EQ(back.sb.alloc_next, 59U + 1);	// one metadata unit (4 pairs)
	EXPECT_EQ(back.sb.meta_used, 4U);
	EXPECT_EQ(back.sb.map_depth, 2U);
}

TEST(Restore, EmptyMap)
{
	sim_params p;
	p.dirty_bytes = 96ULL << 20;
	sim_array s = workload(p, 3);
	metadata_dump d = dump_of(s.dev());

	d.runs.clear();
	restore_to(s.dev(), d);
	std::string text;
	check_result r = check_of(s.dev(), &text);
	EXPECT_EQ(r.worst, severity::none) << text;
	EXPECT_TRUE(dump_of(s.dev()).runs.empty());
}

TEST(Restore, RefusesWhatDoesNotFit)
{
	sim_array s;
	metadata_dump d;
	device_view v(s.dev());
	std::string err;

	d.sb = s.sb();
	uint64_t total = (v.area->blocks() - d.sb.data_start) / 16;
	d.runs = {{0, 0, total}};	// the map's unit would not fit
	EXPECT_FALSE(restore_metadata(*v.area, v.layout, d, at(0), err));
	EXPECT_NE(err.find("not enough room"), std::string::npos) << err;
	d.runs = {{0, 0, total - 1}};
	restore_info info;
	EXPECT_TRUE(restore_metadata(*v.area, v.layout, d, at(0), err, &info)) << err;
	EXPECT_EQ(info.passes, 1U);
	EXPECT_FALSE(info.live_map_leaked);
}

TEST(Restore, MapGoesIntoHoles)
{
	// Data in the last slot but one: the map takes slot 0 (no live map:
	// one step).  Restoring that again: the live map is in slot 0, so a
	// first map goes into the last slot and is committed before slot 0 is
	// rewritten.  With the data in the last slot there is no room for
	// that: the map goes around the live one, which is left leaked (and
	// a restore of that goes back into slot 0 in one step).
	sim_array s;
	metadata_dump d;
	device_view v(s.dev());
	std::string err, text;
	restore_info info;

	d.sb = s.sb();
	uint64_t total = (v.area->blocks() - d.sb.data_start) / 16;
	d.runs = {{5, total - 2, 1}};
	ASSERT_TRUE(restore_metadata(*v.area, v.layout, d, at(0), err, &info)) << err;
	EXPECT_EQ(info.passes, 1U);
	metadata_dump back = dump_of(s.dev());
	EXPECT_EQ(back.runs, d.runs);
	EXPECT_EQ(back.sb.meta_unit, d.sb.data_start);	// slot 0
	EXPECT_EQ(back.sb.alloc_next, total - 1);
	EXPECT_EQ(back.sb.seq, d.sb.seq + 2);
	check_result r = check_of(s.dev(), &text);
	// Slots 1..total-3 hold nothing: leaked, and only that.
	for (const finding &f : r.findings)
		EXPECT_EQ(f.kind, damage::leaked_slots) << text;

	ASSERT_TRUE(restore_metadata(*v.area, v.layout, back, at(0), err, &info)) << err;
	EXPECT_EQ(info.passes, 2U);
	metadata_dump again = dump_of(s.dev());
	EXPECT_EQ(again.runs, d.runs);
	EXPECT_EQ(again.sb.meta_unit, d.sb.data_start);
	EXPECT_EQ(again.sb.alloc_next, total - 1);
	EXPECT_EQ(again.sb.seq, back.sb.seq + 4);

	d.runs = {{5, total - 1, 1}};
	d.sb.seq = again.sb.seq;
	ASSERT_TRUE(restore_metadata(*v.area, v.layout, d, at(0), err, &info)) << err;
	EXPECT_EQ(info.passes, 1U);
	EXPECT_TRUE(info.live_map_leaked);
	back = dump_of(s.dev());
	EXPECT_EQ(back.runs, d.runs);
	EXPECT_EQ(back.sb.meta_unit, d.sb.data_start + 16);	// slot 1
	EXPECT_EQ(back.sb.alloc_next, total);
	EXPECT_NE(check_of(s.dev(), &text).worst, severity::fatal) << text;
	ASSERT_TRUE(restore_metadata(*v.area, v.layout, back, at(0), err, &info)) << err;
	EXPECT_EQ(info.passes, 1U);
	EXPECT_FALSE(info.live_map_leaked);
	EXPECT_EQ(dump_of(s.dev()).sb.meta_unit, d.sb.data_start);
}

TEST(Restore, RefusesAnotherArraysDevice)
{
	sim_array s;
	metadata_dump d;
	device_view v(s.dev());
	std::string err;

	d.sb = s.sb();
	d.sb.array_uuid[0] ^= 1;
	EXPECT_FALSE(restore_metadata(*v.area, v.layout, d, at(0), err));
	EXPECT_NE(err.find("belongs to array"), std::string::npos) << err;
	d.sb = s.sb();
	d.sb.chunk_sectors = 256;
	d.sb.data_start = 32;
	EXPECT_FALSE(restore_metadata(*v.area, v.layout, d, at(0), err));
}

TEST(Restore, HandoffKeptOrRewritten)
{
	sim_array s;
	metadata_dump d = dump_of(s.dev());
	block_buf before = s.read(kHandoffBlock), b;

	ASSERT_TRUE(d.ho.has_value());
	d.ho->origin_minor = 77;
	restore_to(s.dev(), d);
	EXPECT_EQ(s.read(kHandoffBlock), before);	// valid: kept

	b = before;
	b[60] ^= 1;
	s.write_block(kHandoffBlock, b);
	restore_to(s.dev(), d, 1800000000, true);	// a stale dump now
	handoff h;
	b = s.read(kHandoffBlock);
	ASSERT_EQ(handoff_check(b), handoff_status::ok);
	handoff_traits::unpack(b, h);
	EXPECT_EQ(h.origin_minor, 77U);
}

TEST(Repair, LosesOnlyTheDamagedLeaf)
{
	sim_array s;

	for (uint64_t c = 0; c < 40; c++)
		s.write(c);
	for (uint64_t c = 600; c < 620; c++)
		s.write(c);
	s.commit();
	block_buf b = s.read(s.node_pair(0, 1) + s.node_copy(0, 1));
	b[3000] ^= 1;
	s.write_block(s.node_pair(0, 1) + s.node_copy(0, 1), b);
	EXPECT_EQ(check_of(s.dev()).worst, severity::fatal);

	read_result r;
	metadata_dump d = dump_of(s.dev(), true, &r);
	EXPECT_EQ(r.lost_chunks, 507U);	// all of leaf 1, as an upper bound
	EXPECT_EQ(r.mapped, 40U);
	d.sb.flags &= ~kFlagNeedsCheck;
	restore_to(s.dev(), d);
	check_result c = check_of(s.dev());
	EXPECT_NE(c.worst, severity::fatal);
	uint64_t n = 0;
	for (const mapping_run &m : dump_of(s.dev()).runs) {
		EXPECT_LT(m.origin_chunk + m.length, 41U);
		n += m.length;
	}
	EXPECT_EQ(n, 40U);
}

TEST(Repair, UsesTheOlderCopyOfADamagedNode)
{
	sim_array s;

	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.commit();
	s.write(20);	// leaf 0 written again: its other copy is now in force
	s.commit();
	block_buf b = s.read(s.node_pair(0, 0) + s.node_copy(0, 0));
	b[500] ^= 4;
	s.write_block(s.node_pair(0, 0) + s.node_copy(0, 0), b);

	read_result r;
	metadata_dump d = dump_of(s.dev(), true, &r);
	EXPECT_EQ(r.lost_chunks, 0U);
	EXPECT_EQ(r.mapped, 10U);	// chunk 20 was mapped after that commit
	ASSERT_EQ(d.runs.size(), 2U);	// chunk 0 in slot 0, the map in slot 1
	EXPECT_EQ(d.runs[1].origin_chunk + d.runs[1].length, 10U);
}

TEST(Repair, DropsDuplicatedSlotsAndUsesADamagedSuperblock)
{
	sim_array s;

	for (uint64_t c = 0; c < 10; c++)
		s.write(c);
	s.commit();
	s.edit_node(0, 0, [&](node &n) { n.entries[300] = s.slot_of(2) + 1; });
	block_buf a = s.read(0), b = s.read(1);
	a[200] ^= 1;
	b[200] ^= 1;
	s.write_block(0, a);
	s.write_block(1, b);
	EXPECT_EQ(check_of(s.dev()).worst, severity::fatal);

	read_result r;
	metadata_dump d = dump_of(s.dev(), true, &r);
	EXPECT_EQ(r.dropped, 1U);
	EXPECT_EQ(r.mapped, 10U);
	EXPECT_EQ(d.sb.seq, s.seq());
}
