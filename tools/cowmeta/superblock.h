// superblock.h - the cow superblock: in-core form, pack/unpack, validators.
//
// The on-disk form is a 4096-byte block (block_buf) with the layout of
// struct cow_sb_disk (md-cow_p.h); struct superblock is the same data in
// CPU order.  superblock_traits converts between them; sb_check() is the
// kernel's per-copy validator (cow_sb_check) and sb_unpack_problems() lists
// every reason the kernel's cow_sb_unpack() would refuse the copy in force.
#ifndef COWMETA_SUPERBLOCK_H
#define COWMETA_SUPERBLOCK_H

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cowmeta/format.h"

namespace cowmeta {

constexpr uint32_t kSbStructSize = 448;	// sizeof(struct cow_sb_disk)
constexpr unsigned kSbReserved = 14;

struct superblock {
	uint32_t magic = kSbMagic;
	uint32_t csum = 0;
	uint64_t blocknr = 0;
	uint32_t version = kVersion;
	uint32_t sb_size = kSbStructSize;
	uint64_t seq = 0;
	uint64_t compat = 0;
	uint64_t ro_compat = 0;
	uint64_t incompat = 0;
	uint64_t flags = 0;
	std::array<uint8_t, 16> array_uuid{};
	uint64_t ctime = 0;
	uint64_t utime = 0;

	uint64_t array_sectors = 0;
	uint32_t chunk_sectors = 0;
	uint32_t pad0 = 0;

	uint64_t origin_sectors = 0;
	uint32_t origin_fp = 0;
	uint32_t origin_fp_method = 0;
	std::array<uint8_t, kLocatorLen> origin_locator{};

	uint64_t data_start = 0;
	uint64_t dirty_blocks = 0;

	uint64_t map_root = 0;
	uint32_t map_depth = 0;
	uint32_t meta_used = 0;
	uint64_t alloc_next = 0;
	uint64_t free_head = 0;
	uint64_t mapped_chunks = 0;
	uint64_t meta_blocks = 0;
	uint64_t meta_unit = 0;
	uint64_t map_root_seq = 0;
	std::array<uint64_t, kSbReserved> reserved{};

	bool has_origin() const { return !(flags & kFlagNoOrigin); }
	// The locator up to its first NUL.
	std::string locator() const;
	void set_locator(const std::string &s);
};

struct superblock_traits {
	// Unpack every field; no validation.
	static void unpack(const block_buf &disk, superblock &core);
	// Pack into a zeroed block with blocknr and csum as given in @core.
	static void pack_raw(const superblock &core, block_buf &disk);
	// Pack with @core.blocknr and a freshly computed checksum.
	static void pack(const superblock &core, block_buf &disk);
};

// Result of the kernel's per-copy validation (cow_sb_check).
enum class sb_status { ok, unreadable, bad_magic, bad_csum, bad_blocknr, bad_version };
const char *sb_status_str(sb_status s);

sb_status sb_check(const block_buf &disk, uint64_t blocknr);

// Which copy the kernel uses: -1 if neither is valid, else 0 (A) or 1 (B).
// Both valid: B if its seq is higher, else A (cow_sb_load).
int sb_pick(sb_status a, uint64_t seq_a, sb_status b, uint64_t seq_b);

// Derived geometry; valid only when sb_unpack_problems() found no problem
// of kind geometry.
struct geometry {
	uint32_t chunk_blocks = 0;	// 4 KiB blocks per chunk (slot)
	uint32_t unit_slots = 0;	// slots per metadata unit
	uint32_t unit_pairs = 0;	// node pairs per metadata unit
	uint64_t nr_chunks = 0;		// chunks of the array (last may be partial)
	unsigned depth = 0;		// effective map depth
	bool depth_computed = false;	// depth chosen as for a fresh map
	uint32_t chunk_sectors = 0;
	uint64_t array_sectors = 0;
	unsigned format = 1;		// 1, or 2 with kIncompatSubchunk
	uint32_t sub_sectors = 0;	// sectors per sub-chunk; 0: none (format
					// 1, or chunks below kSubchunkMinChunk)
	bool clean = false;		// the map may hold clean chunks (format 2
					// with kIncompatClean: clean_chunks_of())

	uint64_t slot_block(uint64_t data_start, uint64_t slot) const
	{
		return data_start + slot * chunk_blocks;
	}
	// The sub-chunks of @chunk (< nr_chunks) that exist, a bit each:
	// sub-chunk i starts at sector chunk * chunk_sectors + i * sub_sectors
	// and exists if that is inside the array (the last chunk may be
	// partial).  0 if the format has no sub-chunks for this chunk size.
	uint16_t subchunks(uint64_t chunk) const
	{
		uint64_t start = chunk * chunk_sectors, left;

		if (!sub_sectors || start >= array_sectors)
			return 0;
		left = array_sectors - start;
		if (left >= chunk_sectors)
			return 0xffff;
		return static_cast<uint16_t>((1U << ((left + sub_sectors - 1) / sub_sectors)) - 1);
	}
};

// A reason cow_sb_unpack() refuses a superblock; "geometry" problems also
// make the chunk map impossible to interpret.
struct sb_problem {
	enum kind_t {
		bad_incompat,
		bad_chunk_size,
		bad_array_size,
		origin_size_mismatch,
		bad_data_start,
		bad_depth,
		bad_root,
		bad_meta_unit,
		bad_clean,	// kIncompatClean without kIncompatSubchunk
		bad_cache,	// kFlagCache without clean chunks or an origin
	} kind;
	std::string msg;
	bool geometry;
};

// Every refusal of cow_sb_unpack() except the UUID comparison (which needs
// the md superblock; see md_super.h).  Fills @geo as far as possible.
std::vector<sb_problem> sb_unpack_problems(const superblock &sb, geometry &geo);

// True if the bytes after the structure (448..4095) are all zero.
bool sb_tail_zero(const block_buf &disk);

std::string uuid_str(const std::array<uint8_t, 16> &u);
bool parse_uuid(const std::string &s, std::array<uint8_t, 16> &u);

}  // namespace cowmeta

#endif
