// format.h - constants of the cow on-disk format, version 1 (formats 1
// and 2: format 2 is version 1 with the incompat feature kIncompatSubchunk;
// format 2 may also have the feature kIncompatClean, clean chunks).
//
// The authoritative definition is drivers/md/md-cow_p.h (and the prose in
// Documentation/admin-guide/md-cow.rst); this header repeats the numbers
// for userspace and adds the helpers every tool needs.  All block numbers
// are 4096-byte blocks counted from the start of md's data area on the
// dirty device.
#ifndef COWMETA_FORMAT_H
#define COWMETA_FORMAT_H

#include <array>
#include <cstddef>
#include <cstdint>

namespace cowmeta {

constexpr size_t kBlockSize = 4096;
constexpr uint32_t kBlockSectors = kBlockSize / 512;

using block_buf = std::array<uint8_t, kBlockSize>;

constexpr uint32_t kSbMagic = 0x21776f63U;	// "cow!"
constexpr uint32_t kHandoffMagic = 0x68776f63U;	// "cowh"
constexpr uint32_t kNodeMagic = 0x6e776f63U;	// "cown"
constexpr uint32_t kVersion = 1;

constexpr uint64_t kSbBlockA = 0;
constexpr uint64_t kSbBlockB = 1;
constexpr uint64_t kHandoffBlock = 2;
constexpr uint64_t kMinDataStart = 16;

constexpr uint32_t kMinChunkSectors = 8;
constexpr uint32_t kMaxChunkSectors = 2048;

constexpr uint64_t kFlagNoOrigin = 1ULL << 0;
constexpr uint64_t kFlagNeedsCheck = 1ULL << 1;
constexpr uint64_t kFlagHydrate = 1ULL << 2;  // hydration asked for, not finished
// Copy-on-read: the kernel copies chunks read from the origin into the
// dirty device as clean chunks.  Valid only with kIncompatClean and an
// origin (kFlagNoOrigin clear): the kernel refuses the superblock else.
constexpr uint64_t kFlagCache = 1ULL << 3;
// A merge into the origin is under way: the origin is part old, part new,
// so only its size identifies it; the commit that ends the merge records
// its new fingerprint.
constexpr uint64_t kFlagMerge = 1ULL << 4;
constexpr uint64_t kKnownFlags = kFlagNoOrigin | kFlagNeedsCheck | kFlagHydrate | kFlagCache | kFlagMerge;

constexpr uint64_t kCompatSupp = 0;
constexpr uint64_t kRoCompatSupp = 0;
// Format 2: leaf entries also name the sub-chunks of a mapped chunk whose
// data is not in its slot (bits 48-63, see leaf_missing()), an entry may
// be a zero chunk (kLeafZero), and slots below alloc_next that hold
// neither chunk data nor map nodes are free, not leaked (the kernel finds
// them by a map walk and hands them out again).  A format 1 array becomes
// format 2 by setting the bit; nothing else changes.
constexpr uint64_t kIncompatSubchunk = 1ULL << 0;
// Clean chunks (only together with kIncompatSubchunk: a feature of format
// 2, not a format of its own; the kernel refuses it alone): a leaf entry
// may be a clean chunk (see leaf_is_clean()).  The kernel sets it the
// first time copy-on-read is turned on.
constexpr uint64_t kIncompatClean = 1ULL << 1;
constexpr uint64_t kIncompatSupp = kIncompatSubchunk | kIncompatClean;

constexpr uint32_t kFpMethodSamples16 = 1;
constexpr unsigned kFpSamples = 16;
constexpr size_t kLocatorLen = 128;

constexpr unsigned kNodeEntries = 507;
constexpr unsigned kMaxDepth = 6;
constexpr uint64_t kLeafSlotMask = (1ULL << 48) - 1;
constexpr unsigned kLeafMissingShift = 48;
constexpr uint64_t kLeafMissingMask = ~kLeafSlotMask;	// bits 48-63
constexpr unsigned kSubchunks = 16;		// per chunk, in format 2
constexpr uint32_t kSubchunkMinChunk = 16;	// sectors: smaller chunks have none
constexpr uint64_t kPtrBlockMask = (1ULL << 40) - 1;
constexpr unsigned kPtrSeqShift = 40;
constexpr uint64_t kPtrSeqMask = (1ULL << 24) - 1;

// Byte offsets of the checksum fields (same for all three block types).
constexpr size_t kCsumOffset = 4;

inline uint64_t ptr_block(uint64_t ptr) { return ptr & kPtrBlockMask; }
inline uint64_t ptr_seq(uint64_t ptr) { return ptr >> kPtrSeqShift; }
inline uint64_t ptr_make(uint64_t block, uint64_t seq)
{
	return block | (seq & kPtrSeqMask) << kPtrSeqShift;
}

// Leaf entries: 0 = not mapped, else the slot + 1 in bits 0-47 and, in
// format 2, a bit per sub-chunk whose data is not in the slot (it reads
// from the origin, or as zeros without one) in bits 48-63.  Format 2 also
// has zero chunks: the entry kLeafZero (slot field all ones, no missing
// bits) reads as zeros and has no slot.  In format 1, or with a missing
// bit, that slot field is out of range like any other.
constexpr uint64_t kLeafZero = kLeafSlotMask;
// With kIncompatClean (format 2, an array with an origin), an entry with a
// slot and all 16 missing bits set is a clean chunk, for any chunk size
// (also chunks without sub-chunks) and the array's last chunk too: the
// whole chunk is in its slot and equals the origin's content there.  It
// may be dropped at any time (the chunk then reads the origin again) and
// is not written data.  Without the feature such an entry is invalid (its
// bits name sub-chunks that do not exist or none in the slot).
constexpr uint16_t kLeafClean = 0xffff;

inline uint64_t leaf_slot(uint64_t e) { return (e & kLeafSlotMask) - 1; }
inline bool leaf_is_zero(uint64_t e, unsigned format) { return format >= 2 && e == kLeafZero; }
inline uint16_t leaf_missing(uint64_t e) { return static_cast<uint16_t>(e >> kLeafMissingShift); }
// Do the incompat features @incompat allow clean chunks (kIncompatClean
// with kIncompatSubchunk)?
inline bool clean_chunks_of(uint64_t incompat)
{
	return (incompat & kIncompatClean) && (incompat & kIncompatSubchunk);
}
// Is @e a clean chunk's entry, in a map that may hold them (@clean_ok:
// clean_chunks_of() the superblock's incompat, geometry::clean)?  As in
// the kernel, an entry without a slot field is none; one whose slot field
// is the zero chunk value is one, with a slot out of range.
inline bool leaf_is_clean(uint64_t e, bool clean_ok)
{
	return clean_ok && leaf_missing(e) == kLeafClean && (e & kLeafSlotMask);
}
inline uint64_t leaf_make(uint64_t slot, uint16_t missing)
{
	return ((slot + 1) & kLeafSlotMask) | static_cast<uint64_t>(missing) << kLeafMissingShift;
}

// The format of a superblock's incompat features: 2 with kIncompatSubchunk
// (kIncompatClean does not change it).
inline unsigned format_of(uint64_t incompat)
{
	return (incompat & kIncompatSubchunk) ? 2 : 1;
}

// c / kNodeEntries^n
inline uint64_t div_pow(uint64_t c, unsigned n)
{
	while (n--)
		c /= kNodeEntries;
	return c;
}

inline bool is_power_of_2(uint64_t v) { return v && !(v & (v - 1)); }

// The shallowest map depth covering @nr_chunks chunks (the kernel's choice
// for a fresh map).
inline unsigned min_depth(uint64_t nr_chunks)
{
	unsigned depth = 1;
	uint64_t max_chunks = kNodeEntries;

	while (max_chunks < nr_chunks && depth <= kMaxDepth) {
		max_chunks *= kNodeEntries;
		depth++;
	}
	return depth;
}

}  // namespace cowmeta

#endif
