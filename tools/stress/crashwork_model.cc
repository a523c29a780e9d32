// crashwork_model.cc - see crashwork_model.h.
#include "crashwork_model.h"

#include <algorithm>
#include <random>

namespace crashwork {

std::vector<std::pair<uint64_t, uint64_t>> plan(uint64_t seed, uint64_t gen, uint64_t nblocks, unsigned k)
{
	std::mt19937_64 rng(seed * 1000003ULL + gen);
	std::vector<std::pair<uint64_t, uint64_t>> runs;
	for (unsigned i = 0; i < k; i++) {
		if (rng() % 4 == 0 && nblocks >= 16)
			runs.emplace_back((rng() % (nblocks / 16)) * 16, 16);
		else
			runs.emplace_back(rng() % nblocks, 1);
	}
	return runs;
}

bool discards_in(const Workload &w, uint64_t gen)
{
	return w.discard_every && gen % w.discard_every == w.discard_every - 1;
}

namespace {

// The whole runs that plan p writes a block of.
std::set<uint64_t> runs_written(const std::vector<std::pair<uint64_t, uint64_t>> &p, uint64_t nruns)
{
	std::set<uint64_t> s;
	for (auto [first, n] : p)
		for (uint64_t b = first; b < first + n; b++)
			if (b / kRunBlocks < nruns)
				s.insert(b / kRunBlocks);
	return s;
}

}  // namespace

std::vector<std::vector<uint64_t>> discard_schedule(const Workload &w, uint64_t gens)
{
	std::vector<std::vector<uint64_t>> out(gens);
	const uint64_t nruns = w.nblocks / kRunBlocks;
	std::set<uint64_t> before;  // runs written by earlier generations
	for (uint64_t g = 0; g < gens; g++) {
		std::set<uint64_t> own = runs_written(plan(w.seed, g, w.nblocks, w.blocks), nruns);
		if (discards_in(w, g)) {
			std::vector<uint64_t> cand;
			for (uint64_t r : before)
				if (!own.count(r))
					cand.push_back(r);
			// A partial Fisher-Yates shuffle of our own: the standard
			// fixes mt19937_64's output, not how std::shuffle uses it.
			std::mt19937_64 rng((w.seed * 1000003ULL + g) ^ 0x6469736361726473ULL);
			size_t n = std::min<size_t>(kDiscardRuns, cand.size());
			for (size_t i = 0; i < n; i++)
				std::swap(cand[i], cand[i + rng() % (cand.size() - i)]);
			cand.resize(n);
			std::sort(cand.begin(), cand.end());
			for (uint64_t r : cand)
				out[g].push_back(r * kRunBlocks);
		}
		before.insert(own.begin(), own.end());
	}
	return out;
}

std::vector<BlockHistory> histories(const Workload &w, uint64_t started, long long synced,
				    const std::set<uint64_t> &failed)
{
	std::vector<BlockHistory> h(w.nblocks);
	auto schedule = discard_schedule(w, started);
	for (uint64_t g = 0; g < started; g++) {
		bool is_synced = static_cast<long long>(g) <= synced && !failed.count(g);
		// A generation discards before it writes, and never a run it
		// writes.
		for (uint64_t first : schedule[g])
			for (uint64_t b = first; b < first + kRunBlocks; b++) {
				h[b].discarded = static_cast<long long>(g);
				if (is_synced) {
					h[b].need = static_cast<long long>(g);
					h[b].need_discarded = true;
				}
			}
		for (auto [first, n] : plan(w.seed, g, w.nblocks, w.blocks))
			for (uint64_t b = first; b < first + n; b++) {
				h[b].wrote.push_back(static_cast<uint32_t>(g));
				if (is_synced) {
					h[b].need = static_cast<long long>(g);
					h[b].need_discarded = false;
				}
			}
	}
	return h;
}

std::string judge_record(const BlockHistory &h, uint64_t b, uint64_t rec_block, uint64_t rec_gen)
{
	bool known = false;
	for (uint32_t g : h.wrote)
		known |= g == rec_gen;
	if (rec_block != b)
		return "holds the record of block " + std::to_string(rec_block) + " (another block's data)";
	if (!known)
		return "holds generation " + std::to_string(rec_gen) + ", which never wrote it";
	if (static_cast<long long>(rec_gen) < h.need)
		return "holds generation " + std::to_string(rec_gen) + " but synced generation " +
		       std::to_string(h.need) + (h.need_discarded ? " discarded it later (lost discard)"
							   : " wrote it later (lost write)");
	return "";
}

std::string judge_origin(const BlockHistory &h)
{
	if (h.need < 0 || h.discarded >= h.need)
		return "";
	return "reads the origin but synced generation " + std::to_string(h.need) + " wrote it (lost write)";
}

}  // namespace crashwork
