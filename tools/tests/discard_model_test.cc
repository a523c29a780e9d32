// discard_model_test.cc - the reference model of discard and write-zeroes
// (tools/stress/discard_model.h) that cow-stress checks md-cow against:
// whole chunks, chunks covered in part with and without sub-chunks, zero
// chunks, the short last chunk, and a per-sector oracle on random ranges.
#include <gtest/gtest.h>

#include <random>

#include "stress/discard_model.h"

using namespace cowmodel;

namespace {

constexpr uint64_t K = 1024;

// 1 MiB + 20 KiB, 64 KiB chunks, 4 KiB sub-chunks: chunk 16 is 20 KiB.
Geometry geo(uint64_t size = 1024 * K + 20 * K, uint64_t chunk = 64 * K, uint64_t sub = 4 * K)
{
	Geometry g;
	g.chunk = chunk;
	g.sub = sub;
	g.size = size;
	return g;
}

const ZeroChunkFn kNoZero = [](uint64_t) { return false; };

std::vector<Range> discard(const Geometry &g, uint64_t a, uint64_t b, const ZeroChunkFn &z = kNoZero)
{
	return discard_to_origin(g, a, b, z);
}

std::vector<Range> R(std::initializer_list<std::pair<uint64_t, uint64_t>> l)
{
	std::vector<Range> v;
	for (auto [off, end] : l)
		v.push_back({off, end - off});
	return v;
}

// The origin: byte i is (i / 512 * 7 + 1) | 1 (never zero), content
// written by the tests: 0xee.
std::vector<uint8_t> origin_of(uint64_t n)
{
	std::vector<uint8_t> o(n);
	for (uint64_t i = 0; i < n; i++)
		o[i] = static_cast<uint8_t>((i / 512 * 7 + 1) | 1);
	return o;
}

// An array model written all over (no byte reads the origin).
ArrayModel written(const Geometry &g, const std::vector<uint8_t> &origin)
{
	ArrayModel m(g, origin);
	std::vector<uint8_t> data(g.size, 0xee);
	m.write(0, data.data(), data.size());
	return m;
}

// Which bytes of [a, b) read the origin, which hold 0xee, which zeros:
// 'o', 'w', 'z' per 512 B sector ('?' for a mix).
std::string sectors(const ArrayModel &m, uint64_t a, uint64_t b)
{
	std::string s;
	for (uint64_t off = a; off < b; off += 512) {
		char c = 0;
		for (uint64_t i = off; i < std::min(off + 512, b); i++) {
			uint8_t v = m.content()[i];
			char k = v == m.origin_byte(i) ? 'o' : v == 0xee ? 'w' : v == 0 ? 'z' : '?';
			c = !c || c == k ? k : '?';
		}
		s += c;
	}
	return s;
}

}  // namespace

TEST(DiscardModel, Geometry)
{
	Geometry g = geo();
	EXPECT_TRUE(g.valid());
	EXPECT_EQ(g.chunks(), 17u);
	EXPECT_EQ(g.chunk_end(15), 1024 * K);
	EXPECT_EQ(g.chunk_end(16), 1044 * K);
	EXPECT_FALSE(geo(0).valid());
	EXPECT_FALSE(geo(1024 * K, 48 * K).valid());
	EXPECT_FALSE(geo(1024 * K, 64 * K, 128 * K).valid());
	EXPECT_FALSE(geo(1024 * K, 64 * K, 256).valid());
	EXPECT_TRUE(geo(1024 * K, 4 * K, 0).valid());

	EXPECT_EQ(format2_subchunk(4 * K), 0u);
	EXPECT_EQ(format2_subchunk(8 * K), 512u);
	EXPECT_EQ(format2_subchunk(64 * K), 4 * K);
	EXPECT_EQ(format2_subchunk(1024 * K), 64 * K);
}

TEST(DiscardModel, ChunksTouchedAndCovered)
{
	Geometry g = geo();
	EXPECT_EQ(chunks_touched(g, 0, 64 * K), (ChunkSpan{0, 1}));
	EXPECT_EQ(chunks_covered(g, 0, 64 * K), (ChunkSpan{0, 1}));
	EXPECT_EQ(chunks_touched(g, 512, 128 * K + 512), (ChunkSpan{0, 3}));
	EXPECT_EQ(chunks_covered(g, 512, 128 * K + 512), (ChunkSpan{1, 2}));
	EXPECT_TRUE(chunks_covered(g, 512, 64 * K).empty());
	EXPECT_TRUE(chunks_covered(g, 4 * K, 60 * K).empty());
	EXPECT_TRUE(chunks_touched(g, 5 * K, 5 * K).empty());
	// The short last chunk is covered by a range that reaches the end.
	EXPECT_EQ(chunks_covered(g, 1024 * K, 1044 * K), (ChunkSpan{16, 17}));
	EXPECT_EQ(chunks_covered(g, 960 * K, 2048 * K), (ChunkSpan{15, 17}));
	EXPECT_TRUE(chunks_covered(g, 1024 * K, 1043 * K).empty());
	EXPECT_EQ(chunk_hull(g, 1030 * K, 1031 * K), (Range{1024 * K, 20 * K}));
	EXPECT_EQ(chunk_hull(g, 70 * K, 130 * K), (Range{64 * K, 128 * K}));
	EXPECT_EQ(chunk_hull(g, 3, 3), Range{});
}

TEST(DiscardModel, WholeChunks)
{
	Geometry g = geo();
	EXPECT_EQ(discard(g, 0, 64 * K), R({{0, 64 * K}}));
	EXPECT_EQ(discard(g, 128 * K, 448 * K), R({{128 * K, 448 * K}}));
	// Without sub-chunks whole chunks are the same.
	g.sub = 0;
	EXPECT_EQ(discard(g, 128 * K, 448 * K), R({{128 * K, 448 * K}}));
	EXPECT_EQ(discard(g, 0, 1044 * K), R({{0, 1044 * K}}));
}

TEST(DiscardModel, PartialChunksWithSubchunks)
{
	Geometry g = geo();
	// 4.5 KiB into chunk 0 to 8 KiB into chunk 1: sub-chunks 2-15 of
	// chunk 0 and 0-1 of chunk 1.
	EXPECT_EQ(discard(g, 4608, 72 * K), R({{8 * K, 72 * K}}));
	// Inside one sub-chunk: nothing.
	EXPECT_TRUE(discard(g, 4608, 8 * K - 512).empty());
	EXPECT_TRUE(discard(g, 4 * K, 8 * K - 512).empty());
	// Exactly one sub-chunk, and a run of them.
	EXPECT_EQ(discard(g, 4 * K, 8 * K), R({{4 * K, 8 * K}}));
	EXPECT_EQ(discard(g, 20 * K, 36 * K + 512), R({{20 * K, 36 * K}}));
	// Partial head, whole chunks, partial tail.
	EXPECT_EQ(discard(g, 63 * K, 200 * K), R({{64 * K, 200 * K}}));
	EXPECT_EQ(discard(g, 61 * K, 197 * K), R({{64 * K, 196 * K}}));
	// 512 B sub-chunks of 8 KiB chunks.
	Geometry s = geo(64 * K, 8 * K, 512);
	EXPECT_EQ(discard(s, 512 * 3, 8 * K + 1024), R({{1536, 9 * K}}));
}

TEST(DiscardModel, PartialChunksWithoutSubchunks)
{
	Geometry g = geo();
	g.sub = 0;
	EXPECT_TRUE(discard(g, 4 * K, 64 * K).empty());
	EXPECT_TRUE(discard(g, 0, 60 * K).empty());
	EXPECT_EQ(discard(g, 4608, 200 * K), R({{64 * K, 192 * K}}));
	// 4 KiB chunks (format 2 has no sub-chunks there): whole chunks only.
	Geometry f = geo(64 * K, 4 * K, format2_subchunk(4 * K));
	EXPECT_EQ(discard(f, 3 * K, 13 * K), R({{4 * K, 12 * K}}));
}

TEST(DiscardModel, ZeroChunks)
{
	Geometry g = geo();
	auto zero1 = [](uint64_t i) { return i == 1; };
	// A zero chunk covered in part: unchanged; covered entirely: origin.
	EXPECT_TRUE(discard(g, 64 * K, 100 * K, zero1).empty());
	EXPECT_EQ(discard(g, 32 * K, 100 * K, zero1), R({{32 * K, 64 * K}}));
	EXPECT_EQ(discard(g, 64 * K, 128 * K, zero1), R({{64 * K, 128 * K}}));
	EXPECT_EQ(discard(g, 60 * K, 132 * K, zero1), R({{60 * K, 132 * K}}));

	// The flags: punch-hole makes covered chunks zero chunks and partial
	// ones not; a discard of a whole chunk, a write and BLKZEROOUT clear.
	std::vector<int> f(g.chunks(), -1);  // -1 untouched
	auto set = [&](uint64_t i, bool z) { f[i] = z; };
	zero_flag_changes(g, Op::punch_hole, 32 * K, 196 * K, set);
	EXPECT_EQ(f[0], 0);
	EXPECT_EQ(f[1], 1);
	EXPECT_EQ(f[2], 1);
	EXPECT_EQ(f[3], 0);
	EXPECT_EQ(f[4], -1);
	f.assign(g.chunks(), -1);
	zero_flag_changes(g, Op::discard, 32 * K, 196 * K, set);
	EXPECT_EQ(f, (std::vector<int>{-1, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}));
	f.assign(g.chunks(), -1);
	zero_flag_changes(g, Op::zeroout, 32 * K, 196 * K, set);
	EXPECT_EQ(f, (std::vector<int>{0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}));
	f.assign(g.chunks(), -1);
	zero_flag_changes(g, Op::write, 64 * K, 64 * K + 512, set);
	EXPECT_EQ(f, (std::vector<int>{-1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}));
	// A punch-hole inside one chunk makes no zero chunk.
	f.assign(g.chunks(), -1);
	zero_flag_changes(g, Op::punch_hole, 4 * K, 60 * K, set);
	EXPECT_EQ(f[0], 0);
	EXPECT_EQ(f[1], -1);
}

TEST(DiscardModel, ShortLastChunk)
{
	Geometry g = geo();  // chunk 16 = [1024 K, 1044 K), sub-chunks 0-4
	EXPECT_EQ(discard(g, 1024 * K, 1044 * K), R({{1024 * K, 1044 * K}}));
	EXPECT_EQ(discard(g, 1028 * K, 1044 * K), R({{1028 * K, 1044 * K}}));
	EXPECT_EQ(discard(g, 1028 * K, 1043 * K), R({{1028 * K, 1040 * K}}));
	// A discard past the end is clipped.
	EXPECT_EQ(discard(g, 1028 * K, 4096 * K), R({{1028 * K, 1044 * K}}));
	// 1 MiB + 18 KiB: sub-chunk 4 is [1040 K, 1042 K), whole up to the end.
	Geometry h = geo(1042 * K);
	EXPECT_EQ(discard(h, 1040 * K, 1042 * K), R({{1040 * K, 1042 * K}}));
	EXPECT_EQ(discard(h, 1032 * K, 1041 * K), R({{1032 * K, 1040 * K}}));
	EXPECT_EQ(chunks_covered(h, 1024 * K, 1042 * K), (ChunkSpan{16, 17}));
	// Without sub-chunks the short chunk goes whole or not at all.
	h.sub = 0;
	EXPECT_TRUE(discard(h, 1025 * K, 1042 * K).empty());
	EXPECT_EQ(discard(h, 1023 * K, 1042 * K), R({{1024 * K, 1042 * K}}));
	// A punch-hole to the end makes the short chunk a zero chunk; then a
	// discard of part of it changes nothing, of all of it the origin.
	auto o = origin_of(h.size);
	h.sub = 4 * K;
	ArrayModel m = written(h, o);
	m.punch_hole(1020 * K, 1042 * K);
	EXPECT_TRUE(m.zero_chunk(16));
	EXPECT_FALSE(m.zero_chunk(15));
	m.discard(1028 * K, 1042 * K);
	EXPECT_EQ(sectors(m, 1024 * K, 1042 * K), std::string(36, 'z'));
	m.discard(1024 * K, 1042 * K);
	EXPECT_FALSE(m.zero_chunk(16));
	EXPECT_EQ(sectors(m, 1024 * K, 1042 * K), std::string(36, 'o'));
}

TEST(DiscardModel, ArrayModelSequences)
{
	Geometry g = geo(256 * K);
	auto o = origin_of(g.size);
	ArrayModel m = written(g, o);
	// Punch-hole of chunks 1-2 and part of 0 and 3.
	m.punch_hole(60 * K, 200 * K);
	EXPECT_FALSE(m.zero_chunk(0));
	EXPECT_TRUE(m.zero_chunk(1));
	EXPECT_TRUE(m.zero_chunk(2));
	EXPECT_FALSE(m.zero_chunk(3));
	EXPECT_EQ(sectors(m, 56 * K, 204 * K), std::string(8, 'w') + std::string(280, 'z') + std::string(8, 'w'));
	// Discard of sub-chunks of zero chunk 1 and of plain chunk 3: only
	// chunk 3's sub-chunk (zeros from the punch-hole) goes back.
	m.discard(68 * K, 76 * K);
	m.discard(196 * K, 200 * K);
	EXPECT_EQ(sectors(m, 64 * K, 128 * K), std::string(128, 'z'));
	EXPECT_EQ(sectors(m, 192 * K, 204 * K), std::string(8, 'z') + std::string(8, 'o') + std::string(8, 'w'));
	// A 512 B write ends chunk 2's zero state: now its sub-chunks discard.
	uint8_t w[512];
	std::fill(std::begin(w), std::end(w), 0xee);
	m.write(130 * K, w, sizeof(w));
	EXPECT_FALSE(m.zero_chunk(2));
	m.discard(132 * K, 136 * K + 512);
	EXPECT_EQ(sectors(m, 128 * K, 140 * K),
		  std::string(4, 'z') + "w" + std::string(3, 'z') + std::string(8, 'o') + std::string(8, 'z'));
	// BLKZEROOUT never makes zero chunks.
	m.zeroout(0, 256 * K);
	for (uint64_t i = 0; i < 4; i++)
		EXPECT_FALSE(m.zero_chunk(i));
	m.discard(4 * K, 8 * K);
	EXPECT_EQ(sectors(m, 0, 12 * K), std::string(8, 'z') + std::string(8, 'o') + std::string(8, 'z'));
	// Whole-chunk discard of a zero chunk: the origin, not a zero chunk.
	m.punch_hole(64 * K, 128 * K);
	EXPECT_TRUE(m.zero_chunk(1));
	m.discard(64 * K, 128 * K);
	EXPECT_FALSE(m.zero_chunk(1));
	EXPECT_EQ(sectors(m, 64 * K, 128 * K), std::string(128, 'o'));
	// An origin shorter than the array: zeros after its end.
	ArrayModel s = written(g, origin_of(100 * K));
	s.discard(64 * K, 128 * K);
	EXPECT_EQ(sectors(s, 64 * K, 128 * K), std::string(128, 'o'));
	EXPECT_NE(s.content()[100 * K - 1], 0);
	EXPECT_EQ(s.content()[100 * K], 0);
	EXPECT_EQ(s.content()[128 * K - 1], 0);
	EXPECT_EQ(s.content()[128 * K], 0xee);
}

// Random ranges against a per-sector statement of the rules.
TEST(DiscardModel, RandomAgainstSectorOracle)
{
	std::mt19937_64 rng(7);
	for (int iter = 0; iter < 3000; iter++) {
		uint64_t chunk = 4 * K << (rng() % 5);
		uint64_t sub = rng() % 4 == 0 ? 0 : format2_subchunk(chunk);
		uint64_t size = chunk * (1 + rng() % 6) + 512 * (rng() % (chunk / 512));
		Geometry g = geo(size, chunk, sub);
		ASSERT_TRUE(g.valid());
		std::vector<bool> zero(g.chunks());
		for (uint64_t i = 0; i < zero.size(); i++)
			zero[i] = rng() % 3 == 0;
		uint64_t a = 512 * (rng() % (size / 512)), b = a + 512 * (1 + rng() % ((size - a) / 512 + 4));
		auto got = discard_to_origin(g, a, b, [&](uint64_t i) { return zero[i]; });
		std::vector<Range> want;
		uint64_t e = std::min(b, size);
		for (uint64_t s = a; s < e; s += 512) {
			uint64_t c = s / chunk, cs = c * chunk, ce = std::min(cs + chunk, size);
			bool origin;
			if (a <= cs && e >= ce)
				origin = true;
			else if (zero[c] || !sub)
				origin = false;
			else {
				uint64_t ss = s / sub * sub, se = std::min(ss + sub, size);
				origin = a <= ss && e >= se;
			}
			if (!origin)
				continue;
			if (!want.empty() && want.back().end() == s)
				want.back().len += 512;
			else
				want.push_back({s, 512});
		}
		ASSERT_EQ(got, want) << "chunk " << chunk << " sub " << sub << " size " << size << " [" << a << ", " << b << ")";
	}
}
