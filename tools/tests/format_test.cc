// format_test.cc - pack/unpack, checksums, per-block validators, JSON.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "cowmeta/crc32c.h"
#include "cowmeta/dirty_device.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/endian.h"
#include "cowmeta/handoff.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/node.h"
#include "cowmeta/superblock.h"

using namespace cowmeta;

namespace {

superblock random_sb(std::mt19937_64 &rng)
{
	superblock s;

	s.magic = static_cast<uint32_t>(rng());
	s.csum = static_cast<uint32_t>(rng());
	s.blocknr = rng();
	s.version = static_cast<uint32_t>(rng());
	s.sb_size = static_cast<uint32_t>(rng());
	s.seq = rng();
	s.compat = rng();
	s.ro_compat = rng();
	s.incompat = rng();
	s.flags = rng();
	for (auto &b : s.array_uuid)
		b = static_cast<uint8_t>(rng());
	s.ctime = rng();
	s.utime = rng();
	s.array_sectors = rng();
	s.chunk_sectors = static_cast<uint32_t>(rng());
	s.pad0 = static_cast<uint32_t>(rng());
	s.origin_sectors = rng();
	s.origin_fp = static_cast<uint32_t>(rng());
	s.origin_fp_method = static_cast<uint32_t>(rng());
	for (auto &b : s.origin_locator)
		b = static_cast<uint8_t>(rng());
	s.data_start = rng();
	s.dirty_blocks = rng();
	s.map_root = rng();
	s.map_depth = static_cast<uint32_t>(rng());
	s.meta_used = static_cast<uint32_t>(rng());
	s.alloc_next = rng();
	s.free_head = rng();
	s.mapped_chunks = rng();
	s.meta_blocks = rng();
	s.meta_unit = rng();
	s.map_root_seq = rng();
	for (auto &r : s.reserved)
		r = rng();
	return s;
}

bool same(const superblock &a, const superblock &b)
{
	block_buf x, y;

	superblock_traits::pack_raw(a, x);
	superblock_traits::pack_raw(b, y);
	return x == y && a.seq == b.seq && a.map_root_seq == b.map_root_seq &&
	       a.origin_locator == b.origin_locator && a.reserved == b.reserved;
}

superblock valid_sb()
{
	superblock s;

	s.array_sectors = 131072;
	s.chunk_sectors = 128;
	s.origin_sectors = 131072;
	s.origin_fp_method = kFpMethodSamples16;
	s.data_start = 16;
	return s;
}

}  // namespace

TEST(Crc32c, KnownVectors)
{
	uint8_t buf[32];

	EXPECT_EQ(crc32c("123456789", 9), 0xe3069283U);
	EXPECT_EQ(crc32c("", 0), 0U);
	std::memset(buf, 0, sizeof(buf));
	EXPECT_EQ(crc32c(buf, sizeof(buf)), 0x8a9136aaU);	// RFC 3720 B.4
	std::memset(buf, 0xff, sizeof(buf));
	EXPECT_EQ(crc32c(buf, sizeof(buf)), 0x62a8ab43U);
	for (int i = 0; i < 32; i++)
		buf[i] = static_cast<uint8_t>(i);
	EXPECT_EQ(crc32c(buf, sizeof(buf)), 0x46dd794eU);
	for (int i = 0; i < 32; i++)
		buf[i] = static_cast<uint8_t>(31 - i);
	EXPECT_EQ(crc32c(buf, sizeof(buf)), 0x113fdb5cU);
}

TEST(Crc32c, IncrementalEqualsWhole)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	uint32_t c = crc32c_update(~0U, s, 10);

	c = crc32c_update(c, s + 10, std::strlen(s) - 10);
	EXPECT_EQ(~c, crc32c(s, std::strlen(s)));
	EXPECT_EQ(crc32c(s, std::strlen(s)), 0x22620404U);
}

TEST(Crc32c, BlockCsumTreatsFieldAsZero)
{
	block_buf b;
	std::mt19937 rng(1);

	for (auto &x : b)
		x = static_cast<uint8_t>(rng());
	uint32_t c = block_csum(b.data(), 4);
	std::memset(b.data() + 4, 0, 4);
	EXPECT_EQ(c, crc32c(b.data(), b.size()));
}

TEST(Superblock, PackUnpackRoundTrip)
{
	std::mt19937_64 rng(42);

	for (int i = 0; i < 100; i++) {
		superblock a = random_sb(rng), b;
		block_buf disk;

		superblock_traits::pack_raw(a, disk);
		superblock_traits::unpack(disk, b);
		EXPECT_TRUE(same(a, b));
		EXPECT_TRUE(sb_tail_zero(disk));
	}
}

TEST(Superblock, LayoutMatchesTheDocumentation)
{
	superblock s = valid_sb();
	block_buf d;

	s.blocknr = 1;
	s.seq = 0x0102030405060708ULL;
	s.data_start = 0x1122;
	s.map_root_seq = 0xabcdef;
	s.reserved[13] = 7;
	superblock_traits::pack(s, d);
	EXPECT_EQ(std::memcmp(d.data(), "cow!", 4), 0);
	EXPECT_EQ(get_le64(d.data() + 8), 1U);
	EXPECT_EQ(get_le32(d.data() + 16), 1U);
	EXPECT_EQ(get_le32(d.data() + 20), 448U);
	EXPECT_EQ(get_le64(d.data() + 24), 0x0102030405060708ULL);
	EXPECT_EQ(get_le64(d.data() + 96), 131072U);
	EXPECT_EQ(get_le32(d.data() + 104), 128U);
	EXPECT_EQ(get_le64(d.data() + 256), 0x1122U);
	EXPECT_EQ(get_le64(d.data() + 328), 0xabcdefU);
	EXPECT_EQ(get_le64(d.data() + 336 + 13 * 8), 7U);
	EXPECT_EQ(get_le32(d.data() + 4), block_csum(d.data(), 4));
}

TEST(Superblock, CheckStatuses)
{
	superblock s = valid_sb();
	block_buf d;

	superblock_traits::pack(s, d);
	EXPECT_EQ(sb_check(d, 0), sb_status::ok);
	EXPECT_EQ(sb_check(d, 1), sb_status::bad_blocknr);
	d[100] ^= 1;
	EXPECT_EQ(sb_check(d, 0), sb_status::bad_csum);
	d[0] ^= 1;
	EXPECT_EQ(sb_check(d, 0), sb_status::bad_magic);
	s.version = 2;
	superblock_traits::pack(s, d);
	EXPECT_EQ(sb_check(d, 0), sb_status::bad_version);
}

TEST(Superblock, PickLikeTheKernel)
{
	EXPECT_EQ(sb_pick(sb_status::ok, 5, sb_status::ok, 4), 0);
	EXPECT_EQ(sb_pick(sb_status::ok, 5, sb_status::ok, 6), 1);
	EXPECT_EQ(sb_pick(sb_status::ok, 5, sb_status::ok, 5), 0);
	EXPECT_EQ(sb_pick(sb_status::bad_csum, 9, sb_status::ok, 1), 1);
	EXPECT_EQ(sb_pick(sb_status::ok, 1, sb_status::bad_magic, 9), 0);
	EXPECT_EQ(sb_pick(sb_status::bad_version, 1, sb_status::unreadable, 9), -1);
}

TEST(Superblock, UnpackProblems)
{
	geometry g;
	auto kinds = [&](const superblock &s) {
		std::vector<sb_problem::kind_t> k;

		for (const sb_problem &p : sb_unpack_problems(s, g))
			k.push_back(p.kind);
		return k;
	};
	using K = std::vector<sb_problem::kind_t>;
	superblock s = valid_sb();

	EXPECT_EQ(kinds(s), K{});
	EXPECT_EQ(g.chunk_blocks, 16U);
	EXPECT_EQ(g.nr_chunks, 1024U);
	EXPECT_EQ(g.depth, 2U);
	EXPECT_TRUE(g.depth_computed);

	s = valid_sb(); s.incompat = 4;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_incompat});
	s = valid_sb(); s.chunk_sectors = 96;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_chunk_size});
	s = valid_sb(); s.chunk_sectors = 4096;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_chunk_size});
	s = valid_sb(); s.array_sectors = s.origin_sectors = 131071;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_array_size});
	s = valid_sb(); s.origin_sectors = 8;
	EXPECT_EQ(kinds(s), K{sb_problem::origin_size_mismatch});
	s.flags = kFlagNoOrigin;
	EXPECT_EQ(kinds(s), K{});
	s = valid_sb(); s.data_start = 8;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_data_start});
	s = valid_sb(); s.data_start = 24;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_data_start});
	s = valid_sb(); s.map_depth = 1; s.map_root = 100;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_depth});
	s = valid_sb(); s.map_depth = 7; s.map_root = 100;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_depth});
	s = valid_sb(); s.map_root = 1ULL << 40;
	EXPECT_EQ(kinds(s), (K{sb_problem::bad_depth, sb_problem::bad_root}));
	s = valid_sb(); s.map_depth = 2; s.map_root = 1ULL << 41;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_root});
	s = valid_sb(); s.meta_unit = 10;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_meta_unit});
	s = valid_sb(); s.meta_unit = 16; s.meta_used = 9;
	EXPECT_EQ(kinds(s), K{sb_problem::bad_meta_unit});
	s.meta_used = 8;
	EXPECT_EQ(kinds(s), K{});
}

TEST(Superblock, DepthCoversTheArray)
{
	EXPECT_EQ(min_depth(1), 1U);
	EXPECT_EQ(min_depth(507), 1U);
	EXPECT_EQ(min_depth(508), 2U);
	EXPECT_EQ(min_depth(257049), 2U);
	EXPECT_EQ(min_depth(257050), 3U);
}

TEST(Superblock, Uuid)
{
	std::array<uint8_t, 16> u{}, v{};

	for (int i = 0; i < 16; i++)
		u[static_cast<size_t>(i)] = static_cast<uint8_t>(i * 17);
	EXPECT_EQ(uuid_str(u), "00112233-4455-6677-8899-aabbccddeeff");
	ASSERT_TRUE(parse_uuid(uuid_str(u), v));
	EXPECT_EQ(u, v);
	EXPECT_TRUE(parse_uuid("00112233:44556677:8899aabb:ccddeeff", v));
	EXPECT_EQ(u, v);
	EXPECT_FALSE(parse_uuid("0011", v));
	EXPECT_FALSE(parse_uuid("00112233-4455-6677-8899-aabbccddeeffx", v));
}

TEST(Node, PackUnpackRoundTrip)
{
	std::mt19937_64 rng(7);
	node a, b;
	block_buf d;

	a.blocknr = rng();
	a.seq = rng();
	a.index = rng();
	a.level = 3;
	a.pad = 9;
	for (auto &e : a.entries)
		e = rng();
	node_traits::pack(a, d);
	node_traits::unpack(d, b);
	EXPECT_EQ(b.magic, kNodeMagic);
	EXPECT_EQ(b.blocknr, a.blocknr);
	EXPECT_EQ(b.seq, a.seq);
	EXPECT_EQ(b.index, a.index);
	EXPECT_EQ(b.level, a.level);
	EXPECT_EQ(b.pad, a.pad);
	EXPECT_EQ(b.entries, a.entries);
	EXPECT_EQ(std::memcmp(d.data(), "cown", 4), 0);
	EXPECT_EQ(get_le64(d.data() + 40), a.entries[0]);
	EXPECT_EQ(get_le64(d.data() + 4088), a.entries[506]);
}

TEST(Node, CheckStatuses)
{
	node n;
	block_buf d;

	n.blocknr = 100;
	n.seq = 5 + (1ULL << 24);
	n.index = 3;
	n.level = 1;
	node_traits::pack(n, d);
	EXPECT_EQ(node_check(d, 100, 1, 3, 5, 1ULL << 25), node_status::ok);
	EXPECT_EQ(node_check(d, 101, 1, 3, 5, 1ULL << 25), node_status::misplaced);
	EXPECT_EQ(node_check(d, 100, 0, 3, 5, 1ULL << 25), node_status::misplaced);
	EXPECT_EQ(node_check(d, 100, 1, 4, 5, 1ULL << 25), node_status::misplaced);
	EXPECT_EQ(node_check(d, 100, 1, 3, 6, 1ULL << 25), node_status::wrong_seq);
	EXPECT_EQ(node_check(d, 100, 1, 3, 5, 5), node_status::too_new);
	d[2000] ^= 0x40;
	EXPECT_EQ(node_check(d, 100, 1, 3, 5, 1ULL << 25), node_status::bad_magic_or_csum);
}

TEST(Node, Pointers)
{
	uint64_t p = ptr_make(0x12345678ULL, 0x1abcdef12ULL);

	EXPECT_EQ(ptr_block(p), 0x12345678ULL);
	EXPECT_EQ(ptr_seq(p), 0xbcdef12ULL & kPtrSeqMask);
}

TEST(Handoff, PackUnpackAndCheck)
{
	handoff h, g;
	block_buf d{};

	EXPECT_EQ(handoff_check(d), handoff_status::absent);
	h.array_uuid[3] = 9;
	h.origin_major = 8;
	h.origin_minor = 16;
	h.origin_sectors = 1 << 20;
	h.utime = 77;
	handoff_traits::pack(h, d);
	EXPECT_EQ(handoff_check(d), handoff_status::ok);
	handoff_traits::unpack(d, g);
	EXPECT_EQ(g.array_uuid, h.array_uuid);
	EXPECT_EQ(g.origin_major, 8U);
	EXPECT_EQ(g.origin_minor, 16U);
	EXPECT_EQ(g.origin_sectors, 1U << 20);
	EXPECT_EQ(g.utime, 77U);
	EXPECT_EQ(get_le32(d.data() + 40), 8U);
	d[50] ^= 1;
	EXPECT_EQ(handoff_check(d), handoff_status::damaged);
}

TEST(MdSuper, ParseAndChecksum)
{
	memory_device dev(2 << 20);
	block_buf b{};
	md_super md;

	EXPECT_FALSE(md_super_read(dev, md));
	put_le32(b.data(), kMdSbMagic);
	put_le32(b.data() + 4, 1);
	b[16] = 0xaa;
	put_le32(b.data() + 88, 128);
	put_le64(b.data() + 128, 2048);
	put_le64(b.data() + 136, 1024);
	put_le32(b.data() + 220, 1);	// max_dev 1: 258 bytes, a trailing le16
	b[256] = 3;
	put_le32(b.data() + 216, md_super_csum(b.data()));
	dev.write(b.data(), b.size(), 4096);
	ASSERT_TRUE(md_super_read(dev, md));
	EXPECT_TRUE(md.csum_ok);
	EXPECT_EQ(md.data_offset, 2048U);
	EXPECT_EQ(md.data_size, 1024U);
	EXPECT_EQ(md.chunksize, 128U);
	EXPECT_EQ(md.set_uuid[0], 0xaa);
	b[256] = 4;
	dev.write(b.data(), b.size(), 4096);
	ASSERT_TRUE(md_super_read(dev, md));
	EXPECT_FALSE(md.csum_ok);

	dirty_layout l;
	std::string err;
	ASSERT_TRUE(locate_data_area(dev, std::nullopt, l, err)) << err;
	EXPECT_EQ(l.data_offset, 2048U);
	EXPECT_EQ(l.data_sectors, 1024U);
	ASSERT_TRUE(locate_data_area(dev, 8, l, err));
	EXPECT_EQ(l.data_sectors, 4096U - 8);
	EXPECT_FALSE(locate_data_area(dev, 4096, l, err));
	memory_device blank(1 << 20);
	EXPECT_FALSE(locate_data_area(blank, std::nullopt, l, err));
	EXPECT_NE(err.find("--data-offset"), std::string::npos);
}

TEST(Json, Reader)
{
	std::string t = R"({"a": [1, 18446744073709551615, {"b": "x\"\\\/\u00ff\u0100"}], "c": true, "d": null, "e": -1.5e3})";
	json_reader j(t);
	std::string k;

	j.begin_object();
	ASSERT_TRUE(j.next_key(k));
	EXPECT_EQ(k, "a");
	j.begin_array();
	ASSERT_TRUE(j.next_element());
	EXPECT_EQ(j.read_uint64(), 1U);
	ASSERT_TRUE(j.next_element());
	EXPECT_EQ(j.read_uint64(), UINT64_MAX);
	ASSERT_TRUE(j.next_element());
	j.begin_object();
	ASSERT_TRUE(j.next_key(k));
	EXPECT_EQ(j.read_string(), std::string("x\"\\/\xff\xc4\x80"));
	EXPECT_FALSE(j.next_key(k));
	EXPECT_FALSE(j.next_element());
	ASSERT_TRUE(j.next_key(k));
	EXPECT_TRUE(j.read_bool());
	ASSERT_TRUE(j.next_key(k));
	j.read_null();
	ASSERT_TRUE(j.next_key(k));
	j.skip_value();
	EXPECT_FALSE(j.next_key(k));
	j.expect_end();
}

TEST(Json, ReaderErrors)
{
	auto fails = [](const std::string &t) {
		json_reader j(t);

		try {
			j.skip_value();
			j.expect_end();
		} catch (const json_error &) {
			return true;
		}
		return false;
	};
	EXPECT_TRUE(fails(""));
	EXPECT_TRUE(fails("{"));
	EXPECT_TRUE(fails("[1,]"));
	EXPECT_TRUE(fails("{\"a\" 1}"));
	EXPECT_TRUE(fails("\"\\x\""));
	EXPECT_TRUE(fails("\"a\nb\""));
	EXPECT_TRUE(fails("[1] 2"));
	EXPECT_TRUE(fails(std::string(100, '[') + std::string(100, ']')));
	EXPECT_FALSE(fails(std::string(30, '[') + std::string(30, ']')));

	for (std::string t : {"18446744073709551616", "012", "1.5", "-1", "x"}) {
		json_reader j(t);

		EXPECT_THROW(j.read_uint64(), json_error) << t;
	}
}

TEST(Json, QuoteRoundTripsEveryByte)
{
	std::string all;

	for (int i = 1; i < 256; i++)
		all.push_back(static_cast<char>(i));
	std::string quoted = json_quote(all);
	json_reader j(quoted);
	EXPECT_EQ(j.read_string(), all);
}

TEST(DumpFormat, ValidateRuns)
{
	metadata_dump d;

	d.sb = valid_sb();
	EXPECT_EQ(validate_dump(d), "");
	d.runs = {{0, 0, 10}, {10, 20, 5}, {1000, 25, 24}};
	EXPECT_EQ(validate_dump(d), "");
	d.runs = {{0, 0, 10}, {5, 20, 5}};
	EXPECT_NE(validate_dump(d), "");	// chunks overlap
	d.runs = {{0, 0, 10}, {10, 5, 5}};
	EXPECT_NE(validate_dump(d), "");	// slot used twice
	d.runs = {{1020, 0, 10}};
	EXPECT_NE(validate_dump(d), "");	// past the end
	d.runs = {{0, 0, 0}};
	EXPECT_NE(validate_dump(d), "");	// empty run
	d.runs = {{0, UINT64_MAX, 2}};
	EXPECT_NE(validate_dump(d), "");	// slot overflow
	d.runs = {};
	d.sb.chunk_sectors = 3;
	EXPECT_NE(validate_dump(d), "");
}

TEST(DumpFormat, RunBuilder)
{
	dump_collector c;
	run_builder rb(c);

	for (uint64_t i : {0, 1, 2, 5, 6, 9})
		rb.add(i, i < 5 ? 10 + i : 100 + i);
	rb.add(10, 200);
	rb.finish();
	std::vector<mapping_run> want = {{0, 10, 3}, {5, 105, 2}, {9, 109, 1}, {10, 200, 1}};
	EXPECT_EQ(c.d.runs, want);
}

TEST(DumpFormat, ParseMergesRuns)
{
	std::string t = R"({"format": "md-cow-dump", "version": 1, "future": [1, {"x": null}],
		"superblock": {"seq": 7, "flags": 1, "array_suuid": 0,
			"array_uuid": "00112233-4455-6677-8899-aabbccddeeff",
			"array_sectors": 131072, "chunk_sectors": 128, "data_start": 16},
		"handoff": null,
		"mappings": [{"origin_chunk": 0, "slot": 0, "length": 1},
			     {"slot": 1, "origin_chunk": 1, "length": 14},
			     {"origin_chunk": 20, "slot": 15, "length": 2}]})";
	dump_collector c;

	parse_dump(t, c);
	std::vector<mapping_run> want = {{0, 0, 15}, {20, 15, 2}};
	EXPECT_EQ(c.d.runs, want);
	EXPECT_EQ(c.d.sb.seq, 7U);
	EXPECT_FALSE(c.d.sb.has_origin());
	EXPECT_FALSE(c.d.ho.has_value());

	for (const char *bad : {
		     R"({"format": "md-cow-dump", "version": 2, "superblock": {}, "mappings": []})",
		     R"({"format": "other", "version": 1})",
		     R"({"format": "md-cow-dump", "version": 1, "mappings": []})",
		     R"({"format": "md-cow-dump", "version": 1, "superblock": {"seq": 1}, "mappings": []})",
	     }) {
		std::string s(bad);
		dump_collector d;

		EXPECT_THROW(parse_dump(s, d), json_error) << s;
	}
}
