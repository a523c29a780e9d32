// dirty_device.h - finding and accessing md's data area on a dirty device.
//
// The tools take the dirty device (or an image of it).  md's v1.2
// superblock sits at byte 4096; its data_offset (sectors) says where md's
// data area, and with it the cow metadata, starts, and its data_size how
// much of the device md uses (the kernel's rdev->sectors).  --data-offset
// overrides the superblock, e.g. for an image of the data area alone
// (--data-offset 0).
#ifndef COWMETA_DIRTY_DEVICE_H
#define COWMETA_DIRTY_DEVICE_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cowmeta/device.h"
#include "cowmeta/format.h"

namespace cowmeta {

constexpr uint32_t kMdSbMagic = 0xa92b4efcU;
constexpr uint64_t kMdSb12Offset = 4096;	// bytes
constexpr uint32_t kMdLevelCow = 64;		// md level of cow arrays

// md's name of a level ("raid1", "linear", ...; "cow" for 64).
const char *md_level_name(uint32_t level);

// The fields of md's struct mdp_superblock_1 that the tools use.
struct md_super {
	uint32_t magic = 0;
	uint32_t major_version = 0;
	uint32_t feature_map = 0;
	std::array<uint8_t, 16> set_uuid{};
	uint32_t level = 0;
	uint64_t size = 0;
	uint32_t chunksize = 0;
	uint32_t raid_disks = 0;
	uint64_t data_offset = 0;
	uint64_t data_size = 0;
	uint64_t super_offset = 0;
	uint32_t sb_csum = 0;
	uint32_t max_dev = 0;
	bool csum_ok = false;
};

// md's checksum of a v1 superblock (calc_sb_1_csum); @sb is 4096 bytes.
uint32_t md_super_csum(const uint8_t *sb);
// Read and unpack the superblock at byte 4096; false if absent (bad magic
// or version) or unreadable.
bool md_super_read(block_device &dev, md_super &md);

// Block I/O relative to md's data area.
class data_area {
public:
	data_area(block_device &dev, uint64_t offset_bytes, uint64_t blocks)
		: dev_(dev), offset_(offset_bytes), blocks_(blocks) {}
	bool read_block(uint64_t blocknr, block_buf &buf);
	bool write_block(uint64_t blocknr, const block_buf &buf);
	bool write_blocks(uint64_t blocknr, const uint8_t *buf, uint64_t nblocks);
	bool flush() { return dev_.flush(); }
	uint64_t blocks() const { return blocks_; }	// usable 4 KiB blocks
	uint64_t offset() const { return offset_; }	// bytes from device start
	block_device &device() { return dev_; }

private:
	block_device &dev_;
	uint64_t offset_;
	uint64_t blocks_;
};

struct dirty_layout {
	std::optional<md_super> md;	// md's superblock, if found
	uint64_t data_offset = 0;	// sectors
	uint64_t data_sectors = 0;	// md's data area (rdev->sectors)
	std::vector<std::string> notes;	// discrepancies worth reporting
};

// Find md's data area; false with @err if it cannot be found.
// @override_sectors: --data-offset.
bool locate_data_area(block_device &dev, std::optional<uint64_t> override_sectors,
		      dirty_layout &out, std::string &err);

}  // namespace cowmeta

#endif
