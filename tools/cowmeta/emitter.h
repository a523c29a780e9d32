// emitter.h - the stream of facts a metadata dump consists of.
//
// Grammar (every producer follows it, every consumer may rely on it):
//
//	dump     := begin(sb) [handoff(h)] run* end()
//	run      := {origin_chunk, slot, length, missing, zero, clean},
//		    length >= 1; runs come in increasing origin_chunk order
//		    and do not overlap; chunks origin_chunk + i are stored in
//		    slots slot + i; missing (format 2; 0 = whole chunks) is the
//		    same for every chunk of the run: bit i set = sub-chunk i is
//		    not in the slot (leaf entry bits 48-63); zero (format 2):
//		    the chunks are zero chunks (leaf entry kLeafZero), with no
//		    slot (slot and missing are 0); clean (kIncompatClean): the
//		    chunks are clean chunks, whole in their slots (leaf entry
//		    bits 48-63 kLeafClean; missing is 0, zero false)
//
// Producers: the device reader (metadata_reader.h) and the JSON parser
// (dump_format.h).  Consumers: the JSON and human writers, the restore
// emitter (restore.h), which writes a fresh metadata set, and collectors.
// Repair is the device reader in salvage mode feeding the restore emitter.
#ifndef COWMETA_EMITTER_H
#define COWMETA_EMITTER_H

#include <cstdint>
#include <optional>
#include <vector>

#include "cowmeta/handoff.h"
#include "cowmeta/superblock.h"

namespace cowmeta {

struct mapping_run {
	uint64_t origin_chunk = 0;
	uint64_t slot = 0;
	uint64_t length = 0;
	uint16_t missing = 0;	// sub-chunks not in the slots (format 2)
	bool zero = false;	// zero chunks: no slot (format 2)
	bool clean = false;	// clean chunks: copies of the origin's (kIncompatClean)

	bool operator==(const mapping_run &o) const
	{
		return origin_chunk == o.origin_chunk && slot == o.slot && length == o.length &&
		       missing == o.missing && zero == o.zero && clean == o.clean;
	}
	// Does @o continue this run (next chunks; next slots, the same
	// missing and both clean or not, or both zero chunks)?
	bool continued_by(const mapping_run &o) const
	{
		return length && o.origin_chunk == origin_chunk + length && o.zero == zero &&
		       (zero || (o.slot == slot + length && o.missing == missing &&
				 o.clean == clean));
	}
};

class emitter {
public:
	virtual ~emitter() = default;
	virtual void begin(const superblock &sb) = 0;
	virtual void emit_handoff(const handoff &h) = 0;
	virtual void emit_run(const mapping_run &r) = 0;
	virtual void end() = 0;
};

// A whole dump in memory.
struct metadata_dump {
	superblock sb;
	std::optional<handoff> ho;
	std::vector<mapping_run> runs;
};

// Collects a dump in memory.
class dump_collector : public emitter {
public:
	void begin(const superblock &sb) override { d.sb = sb; }
	void emit_handoff(const handoff &h) override { d.ho = h; }
	void emit_run(const mapping_run &r) override { d.runs.push_back(r); }
	void end() override {}
	metadata_dump d;
};

// Replays a dump into an emitter.
void emit_dump(const metadata_dump &d, emitter &e);

// Turns single mappings (in increasing chunk order) into runs.
class run_builder {
public:
	explicit run_builder(emitter &e) : e_(e) {}
	void add(uint64_t chunk, uint64_t slot, uint16_t missing = 0)
	{
		push({chunk, slot, 1, missing, false, false});
	}
	// A zero chunk (format 2).
	void add_zero(uint64_t chunk) { push({chunk, 0, 1, 0, true, false}); }
	// A clean chunk (kIncompatClean), whole in @slot.
	void add_clean(uint64_t chunk, uint64_t slot) { push({chunk, slot, 1, 0, false, true}); }
	void finish()
	{
		if (cur_.length)
			e_.emit_run(cur_);
		cur_ = {};
	}

private:
	void push(const mapping_run &one)
	{
		if (cur_.continued_by(one)) {
			cur_.length++;
			return;
		}
		finish();
		cur_ = one;
	}

	emitter &e_;
	mapping_run cur_;
};

}  // namespace cowmeta

#endif
