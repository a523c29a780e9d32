// superblock.cc - cow superblock pack/unpack and the kernel's validators.
#include "cowmeta/superblock.h"

#include <cstdio>
#include <cstring>

#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"

namespace cowmeta {

namespace {

// Byte offsets in struct cow_sb_disk (md-cow.rst, "Superblock").
enum : size_t {
	kOffMagic = 0, kOffCsum = 4, kOffBlocknr = 8, kOffVersion = 16,
	kOffSbSize = 20, kOffSeq = 24, kOffCompat = 32, kOffRoCompat = 40,
	kOffIncompat = 48, kOffFlags = 56, kOffUuid = 64, kOffCtime = 80,
	kOffUtime = 88, kOffArraySectors = 96, kOffChunkSectors = 104,
	kOffPad0 = 108, kOffOriginSectors = 112, kOffOriginFp = 120,
	kOffOriginFpMethod = 124, kOffLocator = 128, kOffDataStart = 256,
	kOffDirtyBlocks = 264, kOffMapRoot = 272, kOffMapDepth = 280,
	kOffMetaUsed = 284, kOffAllocNext = 288, kOffFreeHead = 296,
	kOffMappedChunks = 304, kOffMetaBlocks = 312, kOffMetaUnit = 320,
	kOffMapRootSeq = 328, kOffReserved = 336,
};
static_assert(kOffReserved + 8 * kSbReserved == kSbStructSize, "superblock layout");

}  // namespace

std::string superblock::locator() const
{
	size_t n = 0;

	while (n < origin_locator.size() && origin_locator[n])
		n++;
	return std::string(origin_locator.begin(), origin_locator.begin() + n);
}

void superblock::set_locator(const std::string &s)
{
	origin_locator.fill(0);
	std::memcpy(origin_locator.data(), s.data(), std::min(s.size(), kLocatorLen));
}

void superblock_traits::unpack(const block_buf &disk, superblock &sb)
{
	const uint8_t *d = disk.data();

	sb.magic = get_le32(d + kOffMagic);
	sb.csum = get_le32(d + kOffCsum);
	sb.blocknr = get_le64(d + kOffBlocknr);
	sb.version = get_le32(d + kOffVersion);
	sb.sb_size = get_le32(d + kOffSbSize);
	sb.seq = get_le64(d + kOffSeq);
	sb.compat = get_le64(d + kOffCompat);
	sb.ro_compat = get_le64(d + kOffRoCompat);
	sb.incompat = get_le64(d + kOffIncompat);
	sb.flags = get_le64(d + kOffFlags);
	std::memcpy(sb.array_uuid.data(), d + kOffUuid, 16);
	sb.ctime = get_le64(d + kOffCtime);
	sb.utime = get_le64(d + kOffUtime);
	sb.array_sectors = get_le64(d + kOffArraySectors);
	sb.chunk_sectors = get_le32(d + kOffChunkSectors);
	sb.pad0 = get_le32(d + kOffPad0);
	sb.origin_sectors = get_le64(d + kOffOriginSectors);
	sb.origin_fp = get_le32(d + kOffOriginFp);
	sb.origin_fp_method = get_le32(d + kOffOriginFpMethod);
	std::memcpy(sb.origin_locator.data(), d + kOffLocator, kLocatorLen);
	sb.data_start = get_le64(d + kOffDataStart);
	sb.dirty_blocks = get_le64(d + kOffDirtyBlocks);
	sb.map_root = get_le64(d + kOffMapRoot);
	sb.map_depth = get_le32(d + kOffMapDepth);
	sb.meta_used = get_le32(d + kOffMetaUsed);
	sb.alloc_next = get_le64(d + kOffAllocNext);
	sb.free_head = get_le64(d + kOffFreeHead);
	sb.mapped_chunks = get_le64(d + kOffMappedChunks);
	sb.meta_blocks = get_le64(d + kOffMetaBlocks);
	sb.meta_unit = get_le64(d + kOffMetaUnit);
	sb.map_root_seq = get_le64(d + kOffMapRootSeq);
	for (unsigned i = 0; i < kSbReserved; i++)
		sb.reserved[i] = get_le64(d + kOffReserved + 8 * i);
}

void superblock_traits::pack_raw(const superblock &sb, block_buf &disk)
{
	uint8_t *d = disk.data();

	disk.fill(0);
	put_le32(d + kOffMagic, sb.magic);
	put_le32(d + kOffCsum, sb.csum);
	put_le64(d + kOffBlocknr, sb.blocknr);
	put_le32(d + kOffVersion, sb.version);
	put_le32(d + kOffSbSize, sb.sb_size);
	put_le64(d + kOffSeq, sb.seq);
	put_le64(d + kOffCompat, sb.compat);
	put_le64(d + kOffRoCompat, sb.ro_compat);
	put_le64(d + kOffIncompat, sb.incompat);
	put_le64(d + kOffFlags, sb.flags);
	std::memcpy(d + kOffUuid, sb.array_uuid.data(), 16);
	put_le64(d + kOffCtime, sb.ctime);
	put_le64(d + kOffUtime, sb.utime);
	put_le64(d + kOffArraySectors, sb.array_sectors);
	put_le32(d + kOffChunkSectors, sb.chunk_sectors);
	put_le32(d + kOffPad0, sb.pad0);
	put_le64(d + kOffOriginSectors, sb.origin_sectors);
	put_le32(d + kOffOriginFp, sb.origin_fp);
	put_le32(d + kOffOriginFpMethod, sb.origin_fp_method);
	std::memcpy(d + kOffLocator, sb.origin_locator.data(), kLocatorLen);
	put_le64(d + kOffDataStart, sb.data_start);
	put_le64(d + kOffDirtyBlocks, sb.dirty_blocks);
	put_le64(d + kOffMapRoot, sb.map_root);
	put_le32(d + kOffMapDepth, sb.map_depth);
	put_le32(d + kOffMetaUsed, sb.meta_used);
	put_le64(d + kOffAllocNext, sb.alloc_next);
	put_le64(d + kOffFreeHead, sb.free_head);
	put_le64(d + kOffMappedChunks, sb.mapped_chunks);
	put_le64(d + kOffMetaBlocks, sb.meta_blocks);
	put_le64(d + kOffMetaUnit, sb.meta_unit);
	put_le64(d + kOffMapRootSeq, sb.map_root_seq);
	for (unsigned i = 0; i < kSbReserved; i++)
		put_le64(d + kOffReserved + 8 * i, sb.reserved[i]);
}

void superblock_traits::pack(const superblock &sb, block_buf &disk)
{
	pack_raw(sb, disk);
	put_le32(disk.data() + kOffCsum, block_csum(disk.data(), kOffCsum));
}

const char *sb_status_str(sb_status s)
{
	switch (s) {
	case sb_status::ok: return "valid";
	case sb_status::unreadable: return "unreadable";
	case sb_status::bad_magic: return "bad magic";
	case sb_status::bad_csum: return "checksum mismatch";
	case sb_status::bad_blocknr: return "wrong block number (misdirected write?)";
	case sb_status::bad_version: return "unknown format version";
	}
	return "?";
}

sb_status sb_check(const block_buf &disk, uint64_t blocknr)
{
	const uint8_t *d = disk.data();

	if (get_le32(d + kOffMagic) != kSbMagic)
		return sb_status::bad_magic;
	if (get_le32(d + kOffCsum) != block_csum(d, kOffCsum))
		return sb_status::bad_csum;
	if (get_le64(d + kOffBlocknr) != blocknr)
		return sb_status::bad_blocknr;
	if (get_le32(d + kOffVersion) != kVersion)
		return sb_status::bad_version;
	return sb_status::ok;
}

int sb_pick(sb_status a, uint64_t seq_a, sb_status b, uint64_t seq_b)
{
	if (a != sb_status::ok && b != sb_status::ok)
		return -1;
	if (a != sb_status::ok)
		return 1;
	if (b != sb_status::ok)
		return 0;
	return seq_b > seq_a ? 1 : 0;
}

std::vector<sb_problem> sb_unpack_problems(const superblock &sb, geometry &geo)
{
	std::vector<sb_problem> p;
	uint32_t chunk = sb.chunk_sectors;
	bool chunk_ok = chunk >= kMinChunkSectors && chunk <= kMaxChunkSectors &&
			is_power_of_2(chunk);
	bool size_ok = sb.array_sectors && !(sb.array_sectors & (kBlockSectors - 1));
	char buf[160];

	geo = geometry();
	geo.format = format_of(sb.incompat);
	if (sb.incompat & ~kIncompatSupp) {
		std::snprintf(buf, sizeof(buf), "unsupported incompat features 0x%llx",
			      static_cast<unsigned long long>(sb.incompat & ~kIncompatSupp));
		p.push_back({sb_problem::bad_incompat, buf, false});
	}
	geo.clean = clean_chunks_of(sb.incompat);
	if ((sb.incompat & kIncompatClean) && !geo.clean)
		p.push_back({sb_problem::bad_clean, "clean chunks feature (incompat bit 1) without format 2 (bit 0)",
			     false});
	if ((sb.flags & kFlagCache) && (!geo.clean || !sb.has_origin()))
		p.push_back({sb_problem::bad_cache, !geo.clean ?
			     "copy-on-read flag without the clean chunks feature (incompat bit 1)" :
			     "copy-on-read flag in an array without origin", false});
	if (!chunk_ok) {
		std::snprintf(buf, sizeof(buf), "invalid chunk size %u sectors", chunk);
		p.push_back({sb_problem::bad_chunk_size, buf, true});
	} else {
		geo.chunk_blocks = chunk / kBlockSectors;
		geo.unit_slots = geo.chunk_blocks >= 2 ? 1 : 2;
		geo.unit_pairs = geo.chunk_blocks >= 2 ? geo.chunk_blocks / 2 : 1;
	}
	if (!size_ok) {
		std::snprintf(buf, sizeof(buf), "invalid array size %llu sectors",
			      static_cast<unsigned long long>(sb.array_sectors));
		p.push_back({sb_problem::bad_array_size, buf, true});
	}
	if (sb.has_origin() && sb.origin_sectors != sb.array_sectors) {
		std::snprintf(buf, sizeof(buf), "array size %llu differs from origin size %llu",
			      static_cast<unsigned long long>(sb.array_sectors),
			      static_cast<unsigned long long>(sb.origin_sectors));
		p.push_back({sb_problem::origin_size_mismatch, buf, false});
	}
	if (chunk_ok && (sb.data_start < kMinDataStart ||
			 (sb.data_start & (geo.chunk_blocks - 1)))) {
		std::snprintf(buf, sizeof(buf), "invalid data start block %llu",
			      static_cast<unsigned long long>(sb.data_start));
		p.push_back({sb_problem::bad_data_start, buf, true});
	}
	if (chunk_ok && size_ok) {
		geo.chunk_sectors = chunk;
		geo.array_sectors = sb.array_sectors;
		if ((sb.incompat & kIncompatSubchunk) && chunk >= kSubchunkMinChunk)
			geo.sub_sectors = chunk / kSubchunks;
		geo.nr_chunks = sb.array_sectors / chunk + !!(sb.array_sectors % chunk);
		geo.depth = sb.map_depth;
		if (!sb.map_depth && !sb.map_root) {
			geo.depth = min_depth(geo.nr_chunks);
			geo.depth_computed = true;
		}
		if (geo.depth < 1 || geo.depth > kMaxDepth ||
		    div_pow(geo.nr_chunks - 1, geo.depth)) {
			std::snprintf(buf, sizeof(buf), "invalid map depth %u", geo.depth);
			p.push_back({sb_problem::bad_depth, buf, true});
		}
	}
	if (sb.map_root & ~kPtrBlockMask) {
		std::snprintf(buf, sizeof(buf), "invalid map root %llu",
			      static_cast<unsigned long long>(sb.map_root));
		p.push_back({sb_problem::bad_root, buf, true});
	}
	if (chunk_ok && sb.meta_unit &&
	    (sb.meta_unit < sb.data_start || sb.meta_used > geo.unit_pairs)) {
		std::snprintf(buf, sizeof(buf), "invalid metadata unit %llu/%u",
			      static_cast<unsigned long long>(sb.meta_unit), sb.meta_used);
		p.push_back({sb_problem::bad_meta_unit, buf, false});
	}
	return p;
}

bool sb_tail_zero(const block_buf &disk)
{
	for (size_t i = kSbStructSize; i < kBlockSize; i++)
		if (disk[i])
			return false;
	return true;
}

std::string uuid_str(const std::array<uint8_t, 16> &u)
{
	char buf[40];
	size_t n = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[n++] = '-';
		n += std::snprintf(buf + n, sizeof(buf) - n, "%02x", u[i]);
	}
	return std::string(buf, n);
}

bool parse_uuid(const std::string &s, std::array<uint8_t, 16> &u)
{
	size_t n = 0;
	int hi = -1;

	for (char c : s) {
		int v;

		if (c == '-' || c == ':')
			continue;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return false;
		if (n >= 16)
			return false;
		if (hi < 0) {
			hi = v;
		} else {
			u[n++] = static_cast<uint8_t>(hi << 4 | v);
			hi = -1;
		}
	}
	return n == 16 && hi < 0;
}

}  // namespace cowmeta
