// restore.h - write a fresh, valid metadata set from a dump.
//
// The layout keeps every data chunk in the slot the dump names (chunk data
// is never moved; zero chunks, format 2, have no slot and get their leaf
// entries; clean chunks keep their slots and their clean entries) and
// builds a new chunk map:
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
//     last unit, mapped_chunks (zero and clean chunks included),
//     meta_blocks and dirty_blocks are recomputed; free_head, padding and
//     reserved fields are zero; utime is "now".  Slots below alloc_next
//     that hold nothing are leaked in format 1 and free (the kernel reuses
//     them) in format 2.
//
// Crash safety: no block of a map that a superblock copy on the device
// points to (the live map) is written before a superblock that replaces
// it is durable.  When the new units would take slots of the live map
// (they do after a dump of the same device: they go where the old map
// was), restore_metadata() first writes and commits a complete map in
// slots that hold neither data nor the live map nor the final units
// (nodes seq N = the highest seq on the device or in the dump + 1), then
// the final map (N + 2).  Without room for that first map, the final map
// is laid out around the live map (whose slots are then leaked, or free in
// format 2); without room for that either, the restore is refused.
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
#include "cowmeta/report.h"

namespace cowmeta {

// A laid-out map.  Only the node indices are kept (8 bytes per node);
// write_plan builds each node's content from the runs when it writes the
// node's unit, so memory does not grow with 4 KiB per node.
struct restore_plan {
	superblock sb;			// copy A (seq N + 1); copy B has seq N
	// Node indices per level (0 = leaves), ascending.  Pair k (root
	// first, then level by level, index ascending) is at block
	// pair_block(k).
	std::vector<std::vector<uint64_t>> levels;
	std::vector<uint64_t> unit_slots;	// slot of each metadata unit
	uint64_t seq = 0;			// nodes' seq
	geometry geo;

	uint64_t pairs() const;
	// Pair number of node (@level, @index), which must exist.
	uint64_t pair_number(unsigned level, uint64_t index) const;
	uint64_t pair_block(uint64_t k) const;
	// The node of pair @k, with its entries, from @runs.
	node build_node(uint64_t k, const std::vector<mapping_run> &runs) const;
};

// Where plan_restore() puts the metadata units: first, if @use_holes, the
// whole units that fit in the slots below the highest data slot that hold
// no data and are not in @avoid (sorted), in slot order; the rest one after
// the other from max(highest data slot + 1, @after) on.  Nodes are written
// with @seq (0: the dump's seq + 1).
struct unit_placement {
	bool use_holes = true;
	uint64_t after = 0;
	const std::vector<uint64_t> *avoid = nullptr;
	uint64_t seq = 0;
};

// Lay out the metadata of @d for a data area of @data_blocks blocks.
bool plan_restore(const metadata_dump &d, uint64_t data_blocks, uint64_t now,
		  restore_plan &plan, std::string &err,
		  const unit_placement &where = unit_placement());

// Slots of every node pair reachable from either superblock copy of @area
// (the copy in force, the previous commit's, or one with a bad checksum a
// salvage would use), sorted: what a restore must not overwrite before
// its own superblock is durable.
std::vector<uint64_t> live_map_slots(data_area &area);

struct restore_options {
	uint64_t now = 0;	// utime of the new superblock
	// Restore although the device's superblock says it is not the state
	// the dump was taken of (another seq or array UUID).
	bool force = false;
	// Identify the device's superblock as a salvage does (cow_repair:
	// the dump was salvaged from this device), not as the kernel does.
	bool salvaged = false;
	progress *prog = nullptr;	// told the units written
};

// How a restore went: number of committed maps written (1 or 2), and
// whether the live map's slots were left holding nothing (leaked in format
// 1, free in format 2) because there was no room for a crash-safe two-step
// restore.
struct restore_info {
	unsigned passes = 0;
	bool live_map_leaked = false;
};

// Check @d against the target device and write it, crash safely.  False
// with @err if the dump does not fit, the device is not the one the dump
// was taken of (unless @opt.force), or on a write error (@err starts with
// "cannot").
bool restore_metadata(data_area &area, const dirty_layout &layout,
		      const metadata_dump &d, const restore_options &opt, std::string &err,
		      restore_info *info = nullptr);

// An emitter that restores what it is fed when it ends.
class restore_emitter : public emitter {
public:
	restore_emitter(data_area &area, const dirty_layout &layout, const restore_options &opt)
		: area_(area), layout_(layout), opt_(opt) {}
	void begin(const superblock &sb) override { d_.sb = sb; }
	void emit_handoff(const handoff &h) override { d_.ho = h; }
	void emit_run(const mapping_run &r) override { d_.runs.push_back(r); }
	void end() override { ok_ = restore_metadata(area_, layout_, d_, opt_, err_, &info_); }
	bool ok() const { return ok_; }
	const std::string &error() const { return err_; }
	const metadata_dump &dump() const { return d_; }
	const restore_info &info() const { return info_; }

private:
	data_area &area_;
	const dirty_layout &layout_;
	restore_options opt_;
	restore_info info_;
	metadata_dump d_;
	bool ok_ = false;
	std::string err_ = "nothing restored";
};

}  // namespace cowmeta

#endif
