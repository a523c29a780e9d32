// checker_test.cc - cow_check: clean images of every shape stay clean, and
// each kind of damage is found with its severity (one test per kind).
#include <gtest/gtest.h>

#include <sstream>

#include "cowmeta/checker.h"
#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"
#include "cowmeta/handoff.h"
#include "cowmeta/origin.h"
#include "image.h"

using namespace cowmeta;
using cowtest::sim_array;
using cowtest::sim_params;

namespace {

struct checked {
	check_result r;
	std::string text;
};

checked check(sim_array &s, block_device *origin = nullptr)
{
	std::ostringstream o;
	nested_output out(o);
	check_options opt;
	dirty_layout l;
	std::string err;

	opt.origin = origin;
	opt.verbose = true;
	EXPECT_TRUE(locate_data_area(s.dev(), std::nullopt, l, err)) << err;
	data_area area(s.dev(), l.data_offset * 512, l.data_sectors / 8);
	checked c{check_metadata(area, l, out, opt), o.str()};
	return c;
}

// The standard image: 64 MiB array, 64 KiB chunks (1024 chunks, depth 2),
// chunks in three leaves, two commits.
sim_array standard(const sim_params &p = sim_params())
{
	sim_array s(p);
	uint64_t n = (p.array_sectors + p.chunk_sectors - 1) / p.chunk_sectors;

	for (uint64_t c = 0; c < 40 && c < n; c++)
		s.write(c);
	for (uint64_t c = 600; c < 620 && c < n; c++)
		s.write(c);
	s.commit();
	s.write(3);
	if (n > 1023)
		s.write(1023);
	s.write(100 % n);
	s.commit();
	return s;
}

#define EXPECT_CLEAN(c)                                                           \
	do {                                                                      \
		EXPECT_EQ((c).r.worst, severity::none) << (c).text;               \
		EXPECT_TRUE((c).r.findings.empty()) << (c).text;                  \
	} while (0)

#define EXPECT_DAMAGE(c, kind, sev)                                               \
	do {                                                                      \
		EXPECT_TRUE((c).r.has(damage::kind)) << (c).text;                 \
		EXPECT_EQ((c).r.worst, severity::sev) << (c).text;                \
	} while (0)

void flip(sim_array &s, uint64_t blocknr, size_t byte, uint8_t mask = 0x10)
{
	block_buf b = s.read(blocknr);

	b[byte] ^= mask;
	s.write_block(blocknr, b);
}

// Copy the in-force copy of node (level, index) to @pair (copy 0) and point
// its parent (or the superblock) at it.
void move_node(sim_array &s, unsigned level, uint64_t index, uint64_t pair)
{
	block_buf b = s.read(s.node_pair(level, index) + s.node_copy(level, index));
	node n;

	node_traits::unpack(b, n);
	n.blocknr = pair;
	node_traits::pack(n, b);
	s.write_block(pair, b);
	if (level + 1 < s.depth()) {
		s.edit_node(level + 1, index / kNodeEntries, [&](node &p) {
			p.entries[index % kNodeEntries] = ptr_make(pair, n.seq);
		});
	} else {
		s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.map_root = pair; });
	}
}

}  // namespace

// ---- clean images ----

TEST(CheckClean, Standard)
{
	sim_array s = standard();
	checked c = check(s);

	EXPECT_CLEAN(c);
	EXPECT_NE(c.text.find("examining chunk map"), std::string::npos);
	EXPECT_NE(c.text.find("\n  "), std::string::npos);	// nested
	EXPECT_NE(c.text.find("no damage found"), std::string::npos);
}

TEST(CheckClean, FreshArray)
{
	sim_array s;
	checked c = check(s);

	EXPECT_CLEAN(c);
}

TEST(CheckClean, ChunkSizes)
{
	for (uint32_t chunk : {8U, 16U, 32U, 256U, 2048U}) {
		sim_params p;

		p.chunk_sectors = chunk;
		p.dirty_bytes = 64ULL << 20;
		SCOPED_TRACE("chunk " + std::to_string(chunk));
		sim_array s = standard(p);
		checked c = check(s);

		EXPECT_CLEAN(c);
	}
}

TEST(CheckClean, NoOriginAndPartialLastChunk)
{
	sim_params p;

	p.no_origin = true;
	p.array_sectors = 64 * 2048 + 8;	// 1025 chunks, the last 4 KiB
	sim_array s = standard(p);
	s.write(1024);
	s.commit();
	checked c = check(s);

	EXPECT_CLEAN(c);
}

TEST(CheckClean, DepthOne)
{
	sim_params p;

	p.array_sectors = 16 * 2048;	// 256 chunks
	sim_array s = standard(p);
	checked c = check(s);

	EXPECT_CLEAN(c);
}

TEST(CheckClean, DepthThree)
{
	sim_params p;

	p.array_sectors = 2ULL * 257049 * 8;	// 514098 chunks of 4 KiB
	p.chunk_sectors = 8;
	p.dirty_bytes = 64ULL << 20;
	sim_array s(p);
	for (uint64_t c : {0ULL, 1ULL, 300000ULL, 514097ULL, 257049ULL})
		s.write(c);
	s.commit();
	EXPECT_EQ(s.depth(), 3U);
	checked c = check(s);

	EXPECT_CLEAN(c);
}

TEST(CheckClean, CrashDebrisIsNotDamage)
{
	sim_array s = standard();

	s.write(700);
	s.write(5);
	s.commit(true);	// nodes written, superblock not: a crash
	checked c = check(s);

	EXPECT_CLEAN(c);
	EXPECT_NE(c.text.find("did not complete"), std::string::npos) << c.text;
}

TEST(CheckClean, ManyCommits)
{
	sim_array s = standard();

	for (int i = 0; i < 20; i++) {
		s.write(static_cast<uint64_t>(200 + i * 37) % 1024);
		s.commit();
	}
	checked c = check(s);

	EXPECT_CLEAN(c);
}

// ---- md superblock ----

TEST(CheckDamage, MdChecksum)
{
	sim_array s = standard();
	block_buf b;

	s.dev().read(b.data(), b.size(), 4096);
	b[40] ^= 1;	// set_name
	s.dev().write(b.data(), b.size(), 4096);
	checked c = check(s);
	EXPECT_DAMAGE(c, md_csum, fatal);
}

TEST(CheckDamage, MdDataSizeBeyondDevice)
{
	sim_array s = standard();

	cowtest::write_md_super(s.dev(), s.sb().array_uuid, 128, 2048, 1ULL << 30);
	checked c = check(s);
	EXPECT_DAMAGE(c, md_data_size, fatal);
}

TEST(CheckDamage, MdUuidMismatch)
{
	sim_array s = standard();
	std::array<uint8_t, 16> other{};

	cowtest::write_md_super(s.dev(), other, 128, 2048, s.layout().data_sectors);
	checked c = check(s);
	EXPECT_DAMAGE(c, md_uuid_mismatch, fatal);
}

TEST(CheckDamage, MdChunkMismatch)
{
	sim_array s = standard();

	cowtest::write_md_super(s.dev(), s.sb().array_uuid, 64, 2048, s.layout().data_sectors);
	checked c = check(s);
	EXPECT_DAMAGE(c, md_chunk_mismatch, fatal);
}

// ---- superblock copies ----

TEST(CheckDamage, OlderSuperblockCopyBad)
{
	sim_array s = standard();

	flip(s, static_cast<uint64_t>(!s.sb_copy()), 300);
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_copy_invalid, non_fatal);
	EXPECT_EQ(c.r.findings.size(), 1U) << c.text;
}

TEST(CheckDamage, NewerSuperblockCopyBad)
{
	sim_array s = standard();

	flip(s, static_cast<uint64_t>(s.sb_copy()), 100);
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_copy_invalid, non_fatal);
	EXPECT_NE(c.text.find("previous commit"), std::string::npos) << c.text;
}

TEST(CheckDamage, SuperblockMisdirectedAndVersion)
{
	sim_array s = standard();

	s.edit_sb(!s.sb_copy(), [](superblock &sb) { sb.blocknr ^= 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_copy_invalid, non_fatal);
	EXPECT_NE(c.text.find("wrong block number"), std::string::npos);

	sim_array t = standard();
	t.edit_sb(!t.sb_copy(), [](superblock &sb) { sb.version = 2; });
	c = check(t);
	EXPECT_DAMAGE(c, sb_copy_invalid, non_fatal);
	EXPECT_NE(c.text.find("unknown format version"), std::string::npos);
}

TEST(CheckDamage, NoValidSuperblock)
{
	sim_array s = standard();

	flip(s, 0, 10);
	flip(s, 1, 0);
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_none_valid, fatal);
}

TEST(CheckDamage, SameSeqInBothCopies)
{
	sim_array s = standard();	// two commits: copy A in force
	ASSERT_EQ(s.sb_copy(), 0);
	s.edit_sb(1, [&](superblock &sb) { sb.seq = s.seq(); });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_same_seq, non_fatal);
}

TEST(CheckDamage, CopiesDescribeDifferentArrays)
{
	sim_array s = standard();

	s.edit_sb(!s.sb_copy(), [](superblock &sb) { sb.ctime++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_copies_differ, non_fatal);
}

// ---- refusals of cow_sb_unpack ----

TEST(CheckDamage, UnknownIncompat)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = 4; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_incompat, fatal);
	EXPECT_NE(c.text.find("unsupported incompat features 0x4"), std::string::npos) << c.text;

	// Bit 0 (format 2) is known; an unknown bit next to it is not.
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.incompat = kIncompatSubchunk | 1ULL << 63; });
	c = check(s);
	EXPECT_DAMAGE(c, sb_incompat, fatal);
	EXPECT_NE(c.text.find("unsupported incompat features 0x8000000000000000"), std::string::npos)
		<< c.text;
}

TEST(CheckDamage, BadChunkSize)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.chunk_sectors = 96; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_chunk_size, fatal);
	EXPECT_NE(c.text.find("chunk map not examined"), std::string::npos);
}

TEST(CheckDamage, BadArraySize)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.array_sectors = sb.origin_sectors = 0; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_array_size, fatal);
}

TEST(CheckDamage, OriginSizeDiffers)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.origin_sectors += 8; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_origin_size, fatal);
}

TEST(CheckDamage, BadDataStart)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.data_start = 8; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_data_start, fatal);
}

TEST(CheckDamage, BadDepth)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.map_depth = 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_depth, fatal);
}

TEST(CheckDamage, BadRoot)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.map_root |= 1ULL << 45; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_root, fatal);
}

TEST(CheckDamage, BadMetaUnit)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.meta_used = 9; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_meta_unit, fatal);
}

// ---- other superblock findings ----

TEST(CheckDamage, UnknownRoCompat)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.ro_compat = 2; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_ro_compat, non_fatal);
	EXPECT_NE(c.text.find("read-only"), std::string::npos);
}

TEST(CheckDamage, UnknownFlags)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.flags |= 32; });	// bit 4 is merge
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_unknown_flags, non_fatal);
}

TEST(CheckDamage, HydrateFlagIsNoDamage)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.flags |= kFlagHydrate; });
	checked c = check(s);
	EXPECT_CLEAN(c);
	EXPECT_NE(c.text.find("a hydration is under way"), std::string::npos) << c.text;
}

TEST(CheckDamage, NonZeroPadding)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.reserved[5] = 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_padding, non_fatal);

	// A byte after the structure, with a matching checksum.
	sim_array t = standard();
	block_buf b = t.read(static_cast<uint64_t>(t.sb_copy()));
	b[1000] = 1;
	put_le32(b.data() + 4, block_csum(b.data(), 4));
	t.write_block(static_cast<uint64_t>(t.sb_copy()), b);
	c = check(t);
	EXPECT_DAMAGE(c, sb_padding, non_fatal);
}

TEST(CheckDamage, DepthDeeperThanNeeded)
{
	sim_params p;

	p.depth = 3;
	sim_array s = standard(p);
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_depth_deeper, non_fatal);
	EXPECT_EQ(c.r.findings.size(), 1U) << c.text;
}

TEST(CheckDamage, NoOriginWithOriginFields)
{
	sim_params p;

	p.no_origin = true;
	sim_array s = standard(p);
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.origin_fp = 5; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_no_origin_fields, non_fatal);
}

TEST(CheckDamage, UnknownFingerprintMethod)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.origin_fp_method = 2; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_fp_method, fatal);
}

TEST(CheckDamage, DeviceSmallerThanAllocation)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.alloc_next = 100000; });
	checked c = check(s);
	EXPECT_DAMAGE(c, sb_device_too_small, fatal);
}

// ---- header blocks ----

TEST(CheckDamage, HandoffDamaged)
{
	sim_array s = standard();

	flip(s, kHandoffBlock, 44);
	checked c = check(s);
	EXPECT_DAMAGE(c, handoff_damaged, non_fatal);
}

TEST(CheckDamage, HandoffOfAnotherArray)
{
	sim_array s = standard();
	block_buf b = s.read(kHandoffBlock);
	handoff h;

	handoff_traits::unpack(b, h);
	h.array_uuid[0] ^= 1;
	handoff_traits::pack(h, b);
	s.write_block(kHandoffBlock, b);
	checked c = check(s);
	EXPECT_DAMAGE(c, handoff_foreign, non_fatal);
}

TEST(CheckDamage, ReservedHeaderBlockNotZero)
{
	sim_array s = standard();

	flip(s, 7, 123);
	checked c = check(s);
	EXPECT_DAMAGE(c, header_nonzero, non_fatal);
}

// ---- chunk map ----

TEST(CheckDamage, EmptyMapWithMappings)
{
	sim_array s;

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks = 3; });
	checked c = check(s);
	EXPECT_DAMAGE(c, map_empty_inconsistent, fatal);
}

TEST(CheckDamage, PointerOutOfRange)
{
	sim_array s = standard();

	s.edit_node(1, 0, [](node &n) { n.entries[1] = ptr_make(3, ptr_seq(n.entries[1])); });
	checked c = check(s);
	EXPECT_DAMAGE(c, ptr_out_of_range, fatal);

	sim_array t = standard();
	t.edit_node(1, 0, [&](node &n) {
		n.entries[1] = ptr_make(t.slot_block(t.sb().alloc_next + 1000), ptr_seq(n.entries[1]));
	});
	c = check(t);
	EXPECT_DAMAGE(c, ptr_out_of_range, fatal);
}

TEST(CheckDamage, PointerStraddlesSlots)
{
	sim_array s = standard();	// 16 blocks per slot

	s.edit_node(1, 0, [&](node &n) {
		n.entries[1] = ptr_make(s.slot_block(1) + 15, ptr_seq(n.entries[1]));
	});
	checked c = check(s);
	EXPECT_DAMAGE(c, ptr_straddles, fatal);
}

TEST(CheckDamage, NodeUnreadable)
{
	sim_array s = standard();
	std::ostringstream o;
	nested_output out(o);
	uint64_t pair = s.node_pair(0, 1);

	// The device ends in the middle of the map.
	data_area cut(s.dev(), s.layout().data_offset * 512, pair);
	check_result r = check_metadata(cut, s.layout(), out, check_options());
	EXPECT_TRUE(r.has(damage::node_unreadable)) << o.str();
	EXPECT_EQ(r.worst, severity::fatal);
}

TEST(CheckDamage, NodeChecksum)
{
	sim_array s = standard();

	flip(s, s.node_pair(0, 1) + s.node_copy(0, 1), 2000);
	checked c = check(s);
	EXPECT_DAMAGE(c, node_bad_csum, fatal);
	EXPECT_NE(c.text.find("copy " + std::to_string(s.node_copy(0, 1)) + ": bad magic or checksum"),
		  std::string::npos) << c.text;
}

TEST(CheckDamage, UnusedNodeCopyDamaged)
{
	sim_array s = standard();	// leaf 0 has two committed copies

	flip(s, s.node_pair(0, 0) + !s.node_copy(0, 0), 1234);
	checked c = check(s);
	EXPECT_DAMAGE(c, node_copy_damaged, non_fatal);
	EXPECT_EQ(c.r.findings.size(), 1U) << c.text;
}

TEST(CheckDamage, NodeMisplaced)
{
	sim_array s = standard();

	s.edit_node(0, 1, [](node &n) { n.index = 7; });
	checked c = check(s);
	EXPECT_DAMAGE(c, node_misplaced, fatal);
}

TEST(CheckDamage, NodeLostWrite)
{
	sim_array s = standard();
	uint64_t pair = s.node_pair(0, 0);
	int old_copy = s.node_copy(0, 0);
	block_buf before = s.read(pair + static_cast<uint64_t>(!old_copy));

	s.write(50);	// leaf 0 changes: its other copy is written
	s.commit();
	ASSERT_EQ(s.node_copy(0, 0), !old_copy);
	// The write of the new copy was lost: the block still has what it had.
	s.write_block(pair + static_cast<uint64_t>(!old_copy), before);
	checked c = check(s);
	EXPECT_DAMAGE(c, node_stale, fatal);
}

TEST(CheckDamage, NodeNewerThanSuperblock)
{
	sim_array s = standard();

	s.edit_node(0, 1, [](node &n) { n.seq += 1ULL << 24; });
	checked c = check(s);
	EXPECT_DAMAGE(c, node_too_new, fatal);
}

TEST(CheckDamage, PairsOverlap)
{
	sim_array s = standard();

	// Leaf 1's pointer aimed at the second block of leaf 0's pair.
	s.edit_node(1, 0, [&](node &n) {
		n.entries[1] = ptr_make(s.node_pair(0, 0) + 1, ptr_seq(n.entries[1]));
	});
	checked c = check(s);
	EXPECT_DAMAGE(c, pair_overlap, fatal);
}

TEST(CheckDamage, PairMisaligned)
{
	sim_array s = standard();
	uint64_t unit = s.sb().meta_unit;
	uint32_t used = s.sb().meta_used;

	ASSERT_LT(used + 1, 8U);
	move_node(s, 0, 1, unit + 2 * used + 1);
	s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.meta_used = used + 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, pair_misaligned, fatal);
}

TEST(CheckDamage, NodePadding)
{
	sim_array s = standard();

	s.edit_node(0, 2, [](node &n) { n.pad = 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, node_padding, non_fatal);
}

TEST(CheckDamage, NodeBeyondArray)
{
	sim_array s = standard();
	uint64_t unit = s.sb().meta_unit;
	uint32_t used = s.sb().meta_used;
	node n;
	block_buf b;

	// A valid, empty leaf 5 (chunks 2535..) in the free pairs of the unit.
	n.blocknr = unit + 2 * used;
	n.seq = s.seq();
	n.index = 5;
	node_traits::pack(n, b);
	s.write_block(n.blocknr, b);
	s.edit_node(1, 0, [&](node &r) { r.entries[5] = ptr_make(n.blocknr, s.seq()); });
	s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.meta_used = used + 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, node_beyond_array, non_fatal);
}

TEST(CheckDamage, EntryReservedBits)
{
	sim_array s = standard();

	s.edit_node(0, 0, [](node &n) { n.entries[0] |= 1ULL << 50; });
	checked c = check(s);
	EXPECT_DAMAGE(c, entry_reserved_bits, fatal);
}

TEST(CheckDamage, EntryBeyondArray)
{
	sim_array s = standard();
	uint64_t slot = s.leak_slot();

	s.commit();
	// Leaf 2 covers chunks 1014..1520; the array has 1024.
	s.edit_node(0, 2, [&](node &n) { n.entries[1030 - 1014] = slot + 1; });
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, entry_chunk_range, fatal);
}

TEST(CheckDamage, EntrySlotNeverAllocated)
{
	sim_array s = standard();

	s.edit_node(0, 0, [&](node &n) { n.entries[200] = s.sb().alloc_next + 5 + 1; });
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, entry_slot_range, fatal);
}

TEST(CheckDamage, SlotMappedTwice)
{
	sim_array s = standard();

	s.edit_node(0, 0, [&](node &n) { n.entries[200] = s.slot_of(3) + 1; });
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, slot_mapped_twice, fatal);
}

TEST(CheckDamage, SlotHoldsDataAndNodes)
{
	sim_array s = standard();
	uint64_t meta_slot = (s.node_pair(0, 0) - s.sb().data_start) / s.chunk_blocks();

	s.edit_node(0, 0, [&](node &n) { n.entries[200] = meta_slot + 1; });
	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, slot_data_and_meta, fatal);
}

// ---- space accounting ----

TEST(CheckDamage, MappedCountWrong)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.mapped_chunks--; });
	checked c = check(s);
	EXPECT_DAMAGE(c, mapped_count, fatal);
}

TEST(CheckDamage, MetaBlocksWrong)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.meta_blocks += 16; });
	checked c = check(s);
	EXPECT_DAMAGE(c, meta_blocks_count, non_fatal);
}

TEST(CheckDamage, UnitUnderused)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.meta_used++; });
	checked c = check(s);
	EXPECT_DAMAGE(c, unit_underused, non_fatal);
}

TEST(CheckDamage, LeakedSlots)
{
	sim_array s = standard();

	s.leak_slot();
	s.leak_slot();
	s.write(900);
	s.commit();
	checked c = check(s);
	EXPECT_DAMAGE(c, leaked_slots, non_fatal);
	EXPECT_EQ(c.r.findings.size(), 1U) << c.text;
}

TEST(CheckDamage, MetaUnitOnData)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.meta_unit = s.slot_block(s.slot_of(3)); });
	checked c = check(s);
	EXPECT_DAMAGE(c, meta_unit_misplaced, fatal);
}

TEST(CheckDamage, MetaUnitPairsInUse)
{
	sim_array s = standard();

	s.edit_sb(s.sb_copy(), [](superblock &sb) { sb.meta_used = 1; });
	checked c = check(s);
	EXPECT_DAMAGE(c, meta_unit_overlap, fatal);
}

// ---- origin ----

TEST(CheckOrigin, SizeAndFingerprint)
{
	sim_array s = standard();
	memory_device origin(s.sb().array_sectors * 512, "origin");
	uint32_t fp;

	for (size_t i = 0; i < origin.bytes().size(); i += 4096)
		origin.bytes()[i] = static_cast<uint8_t>(i >> 12);
	ASSERT_TRUE(origin_fingerprint(origin, fp));
	s.edit_sb(0, [&](superblock &sb) { sb.origin_fp = fp; });
	s.edit_sb(1, [&](superblock &sb) { sb.origin_fp = fp; });
	checked c = check(s, &origin);
	EXPECT_CLEAN(c);

	origin.bytes()[4096 * 5] ^= 1;	// a block that is not sampled
	origin.bytes()[0] ^= 1;		// the first block is
	c = check(s, &origin);
	EXPECT_DAMAGE(c, origin_fp, fatal);

	memory_device small(4096 * 10, "small");
	c = check(s, &small);
	EXPECT_DAMAGE(c, origin_size, fatal);
}

// A merge under way: the origin's fingerprint is not compared (the origin
// is part old, part new), its size still is; and the other superblock
// copy may record the old fingerprint across the end of a merge.
TEST(CheckOrigin, MergeComparesTheSizeOnly)
{
	sim_array s = standard();
	memory_device origin(s.sb().array_sectors * 512, "origin");
	uint32_t fp;

	ASSERT_TRUE(origin_fingerprint(origin, fp));
	s.edit_sb(0, [&](superblock &sb) { sb.origin_fp = fp ^ 1; sb.flags |= kFlagMerge; });
	s.edit_sb(1, [&](superblock &sb) { sb.origin_fp = fp ^ 1; sb.flags |= kFlagMerge; });
	checked c = check(s, &origin);
	EXPECT_CLEAN(c);
	EXPECT_NE(c.text.find("a merge is under way"), std::string::npos) << c.text;

	memory_device small(4096 * 10, "small");
	c = check(s, &small);
	EXPECT_DAMAGE(c, origin_size, fatal);

	// The merge's last commit: flag off, new fingerprint, in one copy.
	s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.origin_fp = fp; sb.flags &= ~kFlagMerge; });
	c = check(s, &origin);
	EXPECT_CLEAN(c);

	// Without the flag a wrong fingerprint is found.
	s.edit_sb(s.sb_copy(), [&](superblock &sb) { sb.origin_fp = fp ^ 1; });
	c = check(s, &origin);
	EXPECT_DAMAGE(c, origin_fp, fatal);
}
