// restore.h - write a fresh, valid metadata set from a dump.
//
// The layout keeps every data chunk in the slot the dump names (chunk data
// is never moved) and builds a new chunk map:
//
//   * map depth: the dump's map_depth if it is valid for the array, else
//     the shallowest that covers it;
//   * nodes: one per (level, index) that covers a mapped chunk; node pairs
//     are numbered root first, then level by level, index ascending, and
//     packed into metadata units (unit_pairs pairs each);
//   * units: first the whole units that fit in the slots below the
//     highest data slot that hold no data (where the old map was), in slot
//     order, then units after the highest data slot;
//   * every node is written to copy 0 of its pair with seq N, copy 1
//     and the rest of each unit are zeroed;
//   * superblock copy B gets seq N and copy A seq N + 1, both describing
//     the same map (so either copy alone is a complete, valid state);
//   * alloc_next is the slot after the highest slot in use, meta_unit the
//     last unit, mapped_chunks, meta_blocks and dirty_blocks are
//     recomputed; free_head, padding and reserved fields are zero; utime
//     is "now".
//
// Writing that over the old map is not crash safe, so when there is room
// restore_metadata() first writes and commits a complete map after the
// data (N = dump seq + 1) and then the final one (N = dump seq + 3).
//
// The handoff block is left alone if it is valid and belongs to the array,
// else written from the dump if the dump has one.  Blocks 3..data_start-1
// are zeroed.
#ifndef COWMETA_RESTORE_H
#define COWMETA_RESTORE_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cowmeta/dirty_device.h"
#include "cowmeta/emitter.h"
#include "cowmeta/node.h"

namespace cowmeta {

struct restore_plan {
	superblock sb;			// copy A (seq N + 1); copy B has seq N
	std::vector<std::pair<uint64_t, node>> nodes;	// pair block, content
	std::vector<uint64_t> unit_slots;	// slot of each metadata unit
	geometry geo;
};

// Lay out the metadata of @d for a data area of @data_blocks blocks, with
// units in the holes below the data if @use_holes, nodes written with seq
// @seq_base (0: the dump's seq + 1).
bool plan_restore(const metadata_dump &d, uint64_t data_blocks, uint64_t now,
		  restore_plan &plan, std::string &err, bool use_holes = true,
		  uint64_t seq_base = 0);

// How a restore went: number of map writes, and whether a crash during
// it would have left valid metadata.
struct restore_info {
	unsigned passes = 0;
	bool crash_safe = true;
};

// Check @d against the target device and write it.
bool restore_metadata(data_area &area, const dirty_layout &layout,
		      const metadata_dump &d, uint64_t now, std::string &err,
		      restore_info *info = nullptr);

// An emitter that restores what it is fed when it ends.
class restore_emitter : public emitter {
public:
	restore_emitter(data_area &area, const dirty_layout &layout, uint64_t now)
		: area_(area), layout_(layout), now_(now) {}
	void begin(const superblock &sb) override { d_.sb = sb; }
	void emit_handoff(const handoff &h) override { d_.ho = h; }
	void emit_run(const mapping_run &r) override { d_.runs.push_back(r); }
	void end() override { ok_ = restore_metadata(area_, layout_, d_, now_, err_); }
	bool ok() const { return ok_; }
	const std::string &error() const { return err_; }
	const metadata_dump &dump() const { return d_; }

private:
	data_area &area_;
	const dirty_layout &layout_;
	uint64_t now_;
	metadata_dump d_;
	bool ok_ = false;
	std::string err_ = "nothing restored";
};

}  // namespace cowmeta

#endif
