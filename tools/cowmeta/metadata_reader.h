// metadata_reader.h - read a dirty device's cow metadata into an emitter.
//
// Strict mode (cow_dump, cow_map) first runs the checker and refuses
// metadata with fatal damage, so what is emitted is exactly what the
// kernel would serve.  Salvage mode (cow_repair) emits what can be read:
// a node whose copy in force is unusable is read from its newest older
// copy if there is one, else its subtree is lost; invalid entries,
// duplicated slots and slots that hold map nodes are dropped; invalid
// sub-chunk bits (format 2) are repaired so that every sub-chunk the entry
// says is in its slot stays mapped and none it says is not gets served
// from the slot: bits past the end of the array are cleared, an entry left
// with no sub-chunk in its slot (or without a slot) is dropped (the chunk
// reads the origin, as it did), the bits of a chunk too small to have
// sub-chunks are cleared (the kernel maps such a chunk only once all of it
// is in its slot); format 1 entries with bits 48-63 set are dropped; zero
// chunks (format 2) are kept, the zero chunk value in format 1 or with
// missing bits is an invalid entry and dropped; clean chunks (format 2
// with kIncompatClean) are kept as clean chunks, or, in an array without
// origin (where the kernel refuses them), as written data (the slot holds
// the whole chunk, as the array read it); without the feature their entries
// are invalid sub-chunk bits (dropped, or cleared for chunks too small to
// have sub-chunks, as above); if neither
// superblock copy is valid, a copy with the right magic and a usable
// geometry is tried.  Every loss is reported on @log.
#ifndef COWMETA_METADATA_READER_H
#define COWMETA_METADATA_READER_H

#include <string>

#include "cowmeta/dirty_device.h"
#include "cowmeta/emitter.h"
#include "cowmeta/report.h"
#include "cowmeta/superblock.h"

namespace cowmeta {

struct read_result {
	bool ok = false;
	std::string err;		// why nothing was emitted
	uint64_t lost_chunks = 0;	// salvage: mappings known to be lost (upper bound)
	uint64_t dropped = 0;		// salvage: entries dropped
	uint64_t fixed = 0;		// salvage: entries kept with sub-chunk bits cleared
	uint64_t mapped = 0;		// chunks emitted
	uint64_t zero = 0;		// of them zero chunks (format 2)
	uint64_t clean = 0;		// of them clean chunks (kIncompatClean)
};

// The superblock a reader uses: the copy the kernel uses, or (@salvage) if
// that one is missing or its geometry is unusable, the newest copy with the
// right magic and a usable geometry (noted on @log).  False with @err if
// there is none.
bool find_superblock(data_area &area, bool salvage, superblock &sb, geometry &geo,
		     nested_output &log, std::string &err);

// @prog (may be null) is told how far the map walks are.
read_result read_metadata(data_area &area, const dirty_layout &layout, emitter &e,
			  bool salvage, nested_output &log, progress *prog = nullptr);

}  // namespace cowmeta

#endif
