// sizing.h - how big a dirty device must be, and the RAM an array uses.
//
// The one place these formulas live (cow_metadata_size and its tests use
// it).  Where they come from:
//   * space: the on-disk format (Documentation/admin-guide/md-cow.rst,
//     "Chunk storage and the chunk map"): data_start = max(16, chunk
//     blocks); one slot per written chunk; map nodes in pairs, packed into
//     metadata units of one slot (two at 4 KiB chunks) holding chunk
//     blocks / 2 pairs (one at 4 KiB); the kernel keeps enough free slots
//     for the nodes one more first write can need (depth pairs).
//   * RAM: md-cow.rst, "Memory use": one bit per chunk, every interior
//     node, at most 1024 cached leaves, 4096 + 64 bytes per node in
//     memory, one bit per slot of the dirty device, up to 16 chunk
//     buffers while copy-ups run, and with copy-on-read one more bit per
//     chunk (which chunks are clean).
#ifndef COWMETA_SIZING_H
#define COWMETA_SIZING_H

#include <cstdint>

namespace cowmeta {

constexpr uint64_t kNodeMemBytes = 4096 + 64;	// a map node in kernel memory
constexpr uint64_t kLeafCacheMax = 1024;	// leaves cached at most
constexpr uint64_t kMaxCopyUps = 16;		// copy-ups in flight, one chunk buffer each

struct sizing_input {
	uint64_t array_bytes = 0;	// origin size (or --size of an origin-less array)
	uint32_t chunk_bytes = 65536;
	double written = 1.0;		// fraction of the chunks ever written, 0..1
	uint64_t data_offset_bytes = 0;	// md's data offset on the dirty device
	bool copy_on_read = false;	// md/cow/cache was ever on (clean-chunk bitmap)
};

struct sizing {
	uint64_t chunks = 0;		// chunks of the array
	uint64_t written_chunks = 0;
	unsigned depth = 0;
	uint64_t leaves = 0;		// leaves at most (written chunks scattered)
	uint64_t interior = 0;		// interior nodes at most (root included)
	uint64_t pairs = 0;		// node pairs = leaves + interior
	uint64_t meta_slots = 0;	// slots in metadata units
	uint64_t reserve_slots = 0;	// kept free by the kernel
	uint64_t header_bytes = 0;	// md data offset + data_start blocks
	uint64_t dirty_bytes = 0;	// the dirty device must be at least this
	// RAM of a running array (worst case for @written).
	uint64_t ram_chunk_bitmap = 0;
	uint64_t ram_clean_bitmap = 0;	// copy-on-read only
	uint64_t ram_slot_bitmap = 0;
	uint64_t ram_interior = 0;
	uint64_t ram_leaf_cache = 0;
	uint64_t ram_copy_up = 0;	// transient, while copy-ups run
	uint64_t ram_total = 0;
};

// mdadm's data offset for a dirty device of @dev_bytes (super1.c: 128 MiB
// of headroom, halved while more than 1/1024 of the device, at least
// 1 MiB).
uint64_t md_default_data_offset(uint64_t dev_bytes);

// False if the input is invalid (chunk size not a power of two in
// 4 KiB..1 MiB, array size zero or not a multiple of 4 KiB, written not
// in 0..1).
bool compute_sizing(const sizing_input &in, sizing &out);

}  // namespace cowmeta

#endif
