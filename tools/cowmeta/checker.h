// checker.h - cow_check: validate the cow metadata of a dirty device.
//
// The checker accepts exactly what the kernel accepts (md-cow-metadata.c:
// cow_sb_check, cow_sb_unpack, cow_node_read, cow_walk_map) and reports
// every reason it would refuse as FATAL; it also reports, as NON_FATAL,
// damage the kernel survives (one bad superblock copy, leaked slots of
// format 1, wrong space accounting, non-zero padding, ...) and, as FATAL, states the kernel
// accepts but that would make it serve or write wrong data later (node
// pairs overlapping, a metadata unit whose free pairs are in use).  Each
// finding has a damage kind, so tests can name what was found.
#ifndef COWMETA_CHECKER_H
#define COWMETA_CHECKER_H

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "cowmeta/dirty_device.h"
#include "cowmeta/report.h"
#include "cowmeta/superblock.h"

namespace cowmeta {

enum class damage {
	// md's superblock (md refuses the member, or the kernel the array)
	md_csum, md_data_size, md_uuid_mismatch, md_chunk_mismatch,
	// cow superblock copies
	sb_copy_invalid, sb_none_valid, sb_same_seq, sb_copies_differ,
	// refusals of cow_sb_unpack (see sb_problem)
	sb_incompat, sb_chunk_size, sb_array_size, sb_origin_size, sb_data_start,
	sb_depth, sb_root, sb_meta_unit, sb_clean_feature, sb_cache_flag,
	// other superblock findings
	sb_ro_compat, sb_unknown_flags, sb_padding, sb_depth_deeper,
	sb_no_origin_fields, sb_fp_method, sb_device_too_small,
	// header blocks
	handoff_damaged, handoff_foreign, header_nonzero,
	// chunk map
	map_empty_inconsistent, ptr_out_of_range, ptr_straddles,
	node_unreadable, node_bad_csum, node_misplaced, node_stale, node_too_new,
	node_copy_damaged, pair_overlap, pair_misaligned, node_padding, node_beyond_array,
	entry_reserved_bits, entry_missing_bits, entry_clean_no_origin, entry_chunk_range,
	entry_slot_range,
	slot_mapped_twice, slot_data_and_meta,
	// space accounting
	mapped_count, meta_blocks_count, unit_underused, leaked_slots,
	meta_unit_misplaced, meta_unit_overlap,
	// origin (--origin)
	origin_size, origin_fp,
};
const char *damage_name(damage d);

// Where a finding is: the structure examined (the report's section:
// "md superblock", "cow superblock", "handoff block", "reserved header
// blocks", "chunk map", "space accounting", "origin") and, where they
// apply, a block of the data area, a map node (level, index), a chunk and
// a slot.  kNone: does not apply.
struct location {
	static constexpr uint64_t kNone = UINT64_MAX;
	std::string section;
	uint64_t block = kNone;
	uint64_t level = kNone;
	uint64_t index = kNone;
	uint64_t chunk = kNone;
	uint64_t slot = kNone;

	location &at_block(uint64_t b) { block = b; return *this; }
	location &at_node(unsigned l, uint64_t i) { level = l; index = i; return *this; }
	location &at_chunk(uint64_t c) { chunk = c; return *this; }
	location &at_slot(uint64_t s) { slot = s; return *this; }
};

struct finding {
	damage kind;
	severity sev;
	std::string msg;
	location loc;
};

const char *severity_name(severity s);	// "none", "non_fatal", "fatal"

// The result as one JSON object: the device, the verdict, the superblock
// in force, every finding kept (kind, severity, location, message) and
// the number of findings per kind (documented in md-cow-tools.rst).
void write_check_json(std::ostream &out, const std::string &device, const struct check_result &r);

struct check_options {
	bool verbose = false;		// one line per node
	block_device *origin = nullptr;	// verify the origin identity
	progress *prog = nullptr;	// told how far the map walk is
};

struct check_result {
	severity worst = severity::none;
	bool io_error = false;		// the origin could not be read
	std::vector<finding> findings;
	int sb_copy = -1;		// copy in force (0 = A, 1 = B), -1 none
	superblock sb;			// the copy in force
	geometry geo;
	bool geometry_ok = false;
	unsigned format = 0;		// of the copy in force (1 or 2), 0 if none
	bool map_read = false;		// the whole map was walked
	uint64_t mapped_chunks = 0;	// chunks with a valid entry (map_read)
	uint64_t partial_chunks = 0;	// of them with missing sub-chunks
	uint64_t missing_subchunks = 0;	// sub-chunks they read from the origin
	uint64_t zero_chunks = 0;	// of them zero chunks (format 2)
	uint64_t clean_chunks = 0;	// of them clean chunks (kIncompatClean)
	// Slots below alloc_next (map_read): holding chunk data, holding map
	// nodes (or the unit being filled), and holding nothing: free in
	// format 2, leaked in format 1 (the other count is 0).
	uint64_t data_slots = 0;
	uint64_t meta_slots = 0;
	uint64_t free_slots = 0;
	uint64_t leaked_slots = 0;

	std::map<damage, unsigned> counts;	// findings per kind (all, not only kept)

	bool has(damage d) const;
};

check_result check_metadata(data_area &area, const dirty_layout &layout,
			    nested_output &out, const check_options &opt);

}  // namespace cowmeta

#endif
