// crashwork_model.h - what cow-crashwork (tools/stress/cow_crashwork.cpp)
// writes and discards in each generation, and what its verify accepts at a
// block after a crash; unit-tested in tools/tests/crashwork_model_test.cc.
#ifndef COW_CRASHWORK_MODEL_H
#define COW_CRASHWORK_MODEL_H

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace crashwork {

// Blocks of 4 KiB; a run is 16 blocks (64 KiB) starting at a multiple of 16.
constexpr uint64_t kRunBlocks = 16;
// Runs a discarding generation discards (fewer if fewer qualify).
constexpr unsigned kDiscardRuns = 4;

struct Workload {
	uint64_t seed = 1;
	uint64_t nblocks = 0;		// device size in blocks
	unsigned blocks = 24;		// --blocks: writes per generation
	uint64_t discard_every = 0;	// --discard-every: 0 = no discards
};

// The writes of generation g: (first block, number of blocks), single
// blocks and aligned runs, drawn from (seed, g).
std::vector<std::pair<uint64_t, uint64_t>> plan(uint64_t seed, uint64_t gen, uint64_t nblocks, unsigned k);

// Whether generation g discards: g % D == D - 1.
bool discards_in(const Workload &w, uint64_t gen);

// The runs (first blocks, ascending) that generations 0..gens-1 discard
// before they write; empty for the others.  Generation g discards up to
// kDiscardRuns runs drawn from (seed, g) among the whole runs that earlier
// generations' plans write a block of and g's own plan does not.
std::vector<std::vector<uint64_t>> discard_schedule(const Workload &w, uint64_t gens);

// What verify knows of one block after a crash.
struct BlockHistory {
	long long need = -1;		// newest synced generation that wrote or discarded it
	bool need_discarded = false;	// that generation discarded it
	long long discarded = -1;	// newest started generation that discarded it
	std::vector<uint32_t> wrote;	// started generations that wrote it
};

// Generations 0..started-1 started; those up to `synced` (-1: none) are
// synced unless listed in `failed`.
std::vector<BlockHistory> histories(const Workload &w, uint64_t started, long long synced,
				    const std::set<uint64_t> &failed);

// Verdicts: "" when acceptable, else what is wrong.  A record of block
// rec_block of generation rec_gen found at block b must be b's own, from a
// started generation that wrote b, not older than `need`.  The origin's
// block is acceptable when no synced generation wrote or discarded b, or a
// started generation not older than `need` discarded it.
std::string judge_record(const BlockHistory &h, uint64_t b, uint64_t rec_block, uint64_t rec_gen);
std::string judge_origin(const BlockHistory &h);

}  // namespace crashwork

#endif
