// crashwork_model_test.cc - cow-crashwork's generations (the discard
// schedule of --discard-every) and its verify rule (tools/stress/crashwork_model.h).
#include <gtest/gtest.h>

#include "stress/crashwork_model.h"

using namespace crashwork;

namespace {

Workload wl(uint64_t every, uint64_t seed = 7, uint64_t nblocks = 2048, unsigned blocks = 16)
{
	Workload w;
	w.seed = seed;
	w.nblocks = nblocks;
	w.blocks = blocks;
	w.discard_every = every;
	return w;
}

bool plan_touches_run(const Workload &w, uint64_t g, uint64_t run)
{
	for (auto [first, n] : plan(w.seed, g, w.nblocks, w.blocks))
		for (uint64_t b = first; b < first + n; b++)
			if (b / kRunBlocks == run)
				return true;
	return false;
}

BlockHistory hist(long long need, bool need_discarded, long long discarded, std::vector<uint32_t> wrote)
{
	BlockHistory h;
	h.need = need;
	h.need_discarded = need_discarded;
	h.discarded = discarded;
	h.wrote = std::move(wrote);
	return h;
}

}  // namespace

TEST(CrashworkModel, NoDiscardsWithoutTheOption)
{
	auto s = discard_schedule(wl(0), 30);
	ASSERT_EQ(s.size(), 30u);
	for (const auto &g : s)
		EXPECT_TRUE(g.empty());
}

TEST(CrashworkModel, ScheduleRules)
{
	for (uint64_t seed : {1, 7, 12345}) {
		for (uint64_t every : {1, 3, 4}) {
			Workload w = wl(every, seed);
			auto s = discard_schedule(w, 40);
			unsigned total = 0;
			for (uint64_t g = 0; g < 40; g++) {
				if (!discards_in(w, g)) {
					EXPECT_TRUE(s[g].empty()) << g;
					continue;
				}
				EXPECT_LE(s[g].size(), kDiscardRuns);
				total += s[g].size();
				for (size_t i = 0; i < s[g].size(); i++) {
					uint64_t first = s[g][i], run = first / kRunBlocks;
					EXPECT_EQ(first % kRunBlocks, 0u);
					EXPECT_LE(first + kRunBlocks, w.nblocks);
					if (i) {
						EXPECT_LT(s[g][i - 1], first);
					}
					// Written before, not written by g.
					bool before = false;
					for (uint64_t e = 0; e < g; e++)
						before |= plan_touches_run(w, e, run);
					EXPECT_TRUE(before) << "gen " << g << " run " << run;
					EXPECT_FALSE(plan_touches_run(w, g, run)) << "gen " << g << " run " << run;
				}
			}
			EXPECT_GT(total, 0u);
		}
	}
	// Generation 0 has nothing to discard.
	EXPECT_TRUE(discard_schedule(wl(1), 1)[0].empty());
	// With plenty written earlier, the full count.
	EXPECT_EQ(discard_schedule(wl(10), 10)[9].size(), kDiscardRuns);
}

TEST(CrashworkModel, ScheduleIsAPrefix)
{
	// verify derives the schedule of the generations that started, write
	// that of all of them: the same for the common generations.
	Workload w = wl(3, 99);
	auto all = discard_schedule(w, 30);
	for (uint64_t n : {0, 1, 3, 11, 29}) {
		auto part = discard_schedule(w, n);
		for (uint64_t g = 0; g < n; g++)
			EXPECT_EQ(part[g], all[g]);
	}
	EXPECT_EQ(discard_schedule(w, 30), all);
	// Other seeds, other runs.
	EXPECT_NE(discard_schedule(wl(3, 100), 30), all);
}

TEST(CrashworkModel, HistoriesWithoutDiscardsAsBefore)
{
	Workload w = wl(0, 5);
	std::set<uint64_t> failed = {3, 6};
	auto h = histories(w, 10, 7, failed);
	// The rule before discards: the newest synced writer, every writer.
	std::vector<long long> need(w.nblocks, -1);
	std::vector<std::vector<uint32_t>> wrote(w.nblocks);
	for (uint64_t g = 0; g < 10; g++)
		for (auto [first, n] : plan(w.seed, g, w.nblocks, w.blocks))
			for (uint64_t b = first; b < first + n; b++) {
				wrote[b].push_back(static_cast<uint32_t>(g));
				if (g <= 7 && !failed.count(g))
					need[b] = static_cast<long long>(g);
			}
	for (uint64_t b = 0; b < w.nblocks; b++) {
		EXPECT_EQ(h[b].need, need[b]);
		EXPECT_EQ(h[b].wrote, wrote[b]);
		EXPECT_EQ(h[b].discarded, -1);
		EXPECT_FALSE(h[b].need_discarded);
	}
}

TEST(CrashworkModel, HistoriesWithDiscards)
{
	Workload w = wl(3, 7);
	auto s = discard_schedule(w, 9);
	ASSERT_FALSE(s[2].empty());
	ASSERT_FALSE(s[5].empty());
	// Generations 0-5 synced: a run generation 5 discarded needs it.
	auto h = histories(w, 9, 5, {});
	for (uint64_t first : s[5])
		for (uint64_t b = first; b < first + kRunBlocks; b++) {
			EXPECT_EQ(h[b].discarded, 5);
			EXPECT_EQ(h[b].need, 5);
			EXPECT_TRUE(h[b].need_discarded);
		}
	// Generation 5 failed (ENOSPC) or not yet synced: its discard may or
	// may not have happened.
	for (auto hh : {histories(w, 6, 5, {5}), histories(w, 6, 4, {})})
		for (uint64_t first : s[5])
			for (uint64_t b = first; b < first + kRunBlocks; b++) {
				EXPECT_EQ(hh[b].discarded, 5);
				EXPECT_LT(hh[b].need, 5);
				EXPECT_FALSE(hh[b].need_discarded);
				EXPECT_EQ(judge_origin(hh[b]), "");
			}
	// A block written after its discard needs the write.
	auto late = histories(w, 40, 39, {});
	auto s40 = discard_schedule(w, 40);
	bool seen = false;
	for (uint64_t g = 0; g < 40; g++)
		for (uint64_t first : s40[g])
			for (uint64_t b = first; b < first + kRunBlocks; b++)
				if (!late[b].wrote.empty() && late[b].wrote.back() > g && late[b].discarded == (long long)g) {
					EXPECT_EQ(late[b].need, late[b].wrote.back());
					EXPECT_FALSE(late[b].need_discarded);
					EXPECT_NE(judge_origin(late[b]), "");
					seen = true;
				}
	EXPECT_TRUE(seen);
}

TEST(CrashworkModel, JudgeRecord)
{
	// Nothing synced wrote it: any generation that wrote it.
	auto h = hist(-1, false, -1, {2, 4});
	EXPECT_EQ(judge_record(h, 10, 10, 2), "");
	EXPECT_EQ(judge_record(h, 10, 10, 4), "");
	EXPECT_EQ(judge_record(h, 10, 10, 3), "holds generation 3, which never wrote it");
	EXPECT_EQ(judge_record(h, 10, 11, 2), "holds the record of block 11 (another block's data)");
	// Synced generation 4 wrote it.
	h = hist(4, false, -1, {2, 4, 6});
	EXPECT_EQ(judge_record(h, 10, 10, 2), "holds generation 2 but synced generation 4 wrote it later (lost write)");
	EXPECT_EQ(judge_record(h, 10, 10, 4), "");
	EXPECT_EQ(judge_record(h, 10, 10, 6), "");
	// Synced generation 5 discarded it.
	h = hist(5, true, 5, {2, 4, 6});
	EXPECT_EQ(judge_record(h, 10, 10, 4), "holds generation 4 but synced generation 5 discarded it later (lost discard)");
	EXPECT_EQ(judge_record(h, 10, 10, 6), "");
	EXPECT_EQ(judge_record(h, 10, 12, 6), "holds the record of block 12 (another block's data)");
}

TEST(CrashworkModel, JudgeOrigin)
{
	EXPECT_EQ(judge_origin(hist(-1, false, -1, {})), "");
	EXPECT_EQ(judge_origin(hist(-1, false, -1, {3})), "");
	EXPECT_EQ(judge_origin(hist(-1, false, 2, {3})), "");
	EXPECT_EQ(judge_origin(hist(4, false, -1, {4})), "reads the origin but synced generation 4 wrote it (lost write)");
	// Discarded before the synced write: the write must be there.
	EXPECT_EQ(judge_origin(hist(4, false, 2, {4})), "reads the origin but synced generation 4 wrote it (lost write)");
	// Discarded by the synced generation, or by one started after the
	// synced write.
	EXPECT_EQ(judge_origin(hist(5, true, 5, {4})), "");
	EXPECT_EQ(judge_origin(hist(4, false, 7, {4})), "");
}
