// discard_model.cc - see discard_model.h.
#include "discard_model.h"

#include <algorithm>
#include <cstddef>

namespace cowmodel {

namespace {

bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

// Append [off, end) to out, merged with the last range if they touch.
void add(std::vector<Range> &out, uint64_t off, uint64_t end)
{
	if (off >= end)
		return;
	if (!out.empty() && out.back().end() == off)
		out.back().len += end - off;
	else
		out.push_back({off, end - off});
}

}  // namespace

uint64_t Geometry::chunk_end(uint64_t i) const
{
	return std::min((i + 1) * chunk, size);
}

bool Geometry::valid() const
{
	if (!pow2(chunk) || chunk < 512 || !size)
		return false;
	return !sub || (pow2(sub) && sub >= 512 && sub <= chunk);
}

uint64_t format2_subchunk(uint64_t chunk)
{
	return chunk >= 8192 ? chunk / 16 : 0;
}

ChunkSpan chunks_touched(const Geometry &g, uint64_t a, uint64_t b)
{
	b = std::min(b, g.size);
	if (a >= b)
		return {};
	return {a / g.chunk, (b - 1) / g.chunk + 1};
}

ChunkSpan chunks_covered(const Geometry &g, uint64_t a, uint64_t b)
{
	b = std::min(b, g.size);
	if (a >= b)
		return {};
	uint64_t first = (a + g.chunk - 1) / g.chunk;
	// A range that reaches the end of the array covers the short last chunk.
	uint64_t end = b == g.size ? g.chunks() : b / g.chunk;
	if (first >= end)
		return {};
	return {first, end};
}

Range chunk_hull(const Geometry &g, uint64_t a, uint64_t b)
{
	ChunkSpan t = chunks_touched(g, a, b);
	if (t.empty())
		return {};
	uint64_t off = g.chunk_start(t.first);
	return {off, g.chunk_end(t.end - 1) - off};
}

std::vector<Range> discard_to_origin(const Geometry &g, uint64_t a, uint64_t b,
				     const ZeroChunkFn &is_zero)
{
	std::vector<Range> out;
	ChunkSpan t = chunks_touched(g, a, b);
	b = std::min(b, g.size);
	for (uint64_t i = t.first; i < t.end; i++) {
		uint64_t cs = g.chunk_start(i), ce = g.chunk_end(i);
		if (a <= cs && b >= ce) {
			add(out, cs, ce);	// covered entirely: the origin again
			continue;
		}
		if (!g.sub || is_zero(i))
			continue;	// in part: no sub-chunks, or a zero chunk
		// The sub-chunks of chunk i covered entirely, each whole up to ce.
		for (uint64_t s = cs; s < ce; s += g.sub) {
			uint64_t se = std::min(s + g.sub, ce);
			if (a <= s && b >= se)
				add(out, s, se);
		}
	}
	return out;
}

void zero_flag_changes(const Geometry &g, Op op, uint64_t a, uint64_t b,
		       const std::function<void(uint64_t chunk, bool zero)> &set)
{
	ChunkSpan t = chunks_touched(g, a, b), c = chunks_covered(g, a, b);
	switch (op) {
	case Op::write:
	case Op::zeroout:
		for (uint64_t i = t.first; i < t.end; i++)
			set(i, false);
		break;
	case Op::discard:
		// A zero chunk covered in part stays one; a chunk that is not
		// one covered in part does not become one.
		for (uint64_t i = c.first; i < c.end; i++)
			set(i, false);
		break;
	case Op::punch_hole:
		for (uint64_t i = t.first; i < t.end; i++)
			set(i, !c.empty() && i >= c.first && i < c.end);
		break;
	}
}

ArrayModel::ArrayModel(const Geometry &g, std::vector<uint8_t> origin)
	: g_(g), origin_(std::move(origin)), data_(g.size), zero_(g.chunks())
{
	for (uint64_t i = 0; i < g_.size; i++)
		data_[i] = origin_byte(i);
}

void ArrayModel::flags(Op op, uint64_t a, uint64_t b)
{
	zero_flag_changes(g_, op, a, b, [this](uint64_t i, bool z) { zero_[i] = z; });
}

void ArrayModel::write(uint64_t off, const uint8_t *data, uint64_t len)
{
	uint64_t end = std::min(off + len, g_.size);
	if (off >= end)
		return;
	std::copy(data, data + (end - off), data_.begin() + static_cast<std::ptrdiff_t>(off));
	flags(Op::write, off, end);
}

void ArrayModel::discard(uint64_t a, uint64_t b)
{
	auto zero = [this](uint64_t i) { return static_cast<bool>(zero_[i]); };
	for (const Range &r : discard_to_origin(g_, a, b, zero))
		for (uint64_t i = r.off; i < r.end(); i++)
			data_[i] = origin_byte(i);
	flags(Op::discard, a, b);
}

void ArrayModel::punch_hole(uint64_t a, uint64_t b)
{
	b = std::min(b, g_.size);
	for (uint64_t i = a; i < b; i++)
		data_[i] = 0;
	flags(Op::punch_hole, a, b);
}

void ArrayModel::zeroout(uint64_t a, uint64_t b)
{
	b = std::min(b, g_.size);
	for (uint64_t i = a; i < b; i++)
		data_[i] = 0;
	flags(Op::zeroout, a, b);
}

}  // namespace cowmodel
