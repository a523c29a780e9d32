// map_walker.h - depth-first walk of the chunk map, as the kernel does it.
//
// The walk starts at the superblock's root pointer and visits children in
// index order, so leaf entries arrive in increasing chunk order.  Each node
// pair is read the kernel's way (read_pair(), cow_node_read): the copy in
// force is a valid, correctly placed copy whose seq matches the parent's
// record and is not above the superblock's seq, the higher such seq if
// both qualify.  A visitor sees every pointer, node and leaf entry and
// decides what is damage; the walker itself only refuses to follow
// pointers the kernel would not follow (cow_walk_pair_ok) and nodes
// without a usable copy.
#ifndef COWMETA_MAP_WALKER_H
#define COWMETA_MAP_WALKER_H

#include <cstdint>
#include <string>

#include "cowmeta/dirty_device.h"
#include "cowmeta/node.h"
#include "cowmeta/report.h"
#include "cowmeta/superblock.h"

namespace cowmeta {

struct pair_read {
	node_status st[2] = {node_status::unreadable, node_status::unreadable};
	bool magic[2] = {false, false};	// the node magic is right
	bool valid[2] = {false, false};	// magic and checksum right
	uint64_t seq[2] = {0, 0};	// seq of a valid copy
	int in_force = -1;		// the kernel's choice, -1 = none
	int fallback = -1;		// newest valid, placed copy not newer than
					// the superblock (salvage), -1 = none
	node copy[2];			// decoded valid copies
};

// Read and judge the two copies of the pair at block @pair.
pair_read read_pair(data_area &area, uint64_t pair, unsigned level,
		    uint64_t index, uint64_t want_seq, uint64_t sb_seq);

// Why the kernel refuses a pointer before reading the pair.
enum class pointer_fault { none, out_of_range, straddles_slots };

pointer_fault check_pointer(const superblock &sb, const geometry &geo, uint64_t pair);

class map_visitor {
public:
	virtual ~map_visitor() = default;
	// A pointer the kernel does not follow; the subtree is skipped.
	virtual void bad_pointer(unsigned level, uint64_t index, uint64_t pair,
				 pointer_fault why) = 0;
	// A node pair was read; @used is the copy whose entries are walked
	// (-1: none, the subtree is lost).  Return false to skip the subtree.
	virtual bool visit_node(unsigned level, uint64_t index, uint64_t pair,
				const pair_read &r, int used) = 0;
	// A non-zero leaf entry of a used leaf copy.
	virtual void visit_entry(uint64_t chunk, uint64_t entry) = 0;
};

// Walk the map of @sb (geometry @geo must be valid).  @salvage: a node
// whose copy in force is unusable is walked from its fallback copy.
// @prog (may be null) is told the node pairs read, out of about
// meta_blocks / 2.  The walk holds one node per level in memory.
void walk_map(data_area &area, const superblock &sb, const geometry &geo,
	      map_visitor &v, bool salvage, progress *prog = nullptr);

}  // namespace cowmeta

#endif
