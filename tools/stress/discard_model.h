// discard_model.h - what md-cow's discard and write-zeroes do to the content
// of an array, as pure functions: the reference model of cow-stress
// (tools/stress/cow_stress.cpp), unit-tested in tools/tests/discard_model_test.cc.
//
// An array of `size` bytes is made of chunks [i*C, min((i+1)*C, size)); the
// last one may be short.  In format 2 a chunk of 8 KiB or more has 16
// sub-chunks of C/16 bytes; a sub-chunk that crosses the end of the array is
// whole up to that end (one that starts past it does not exist).  A chunk
// may be a *zero chunk* (a write-zeroes that could unmap covered all of it).
// The content of the array after each operation on [a, b):
//
//   write        [a, b) holds the data; every chunk it touches is not a zero
//                chunk any more.
//   discard      (BLKDISCARD) each chunk covered entirely reads the origin
//                again and is not a zero chunk any more.  Of a chunk covered
//                in part: a zero chunk is left as it is; otherwise each of
//                its sub-chunks covered entirely reads the origin again and
//                the rest (all of it without sub-chunks) is left as it is.
//   punch_hole   (fallocate PUNCH_HOLE|KEEP_SIZE: write-zeroes that may
//                unmap) [a, b) reads zeros; each chunk covered entirely
//                becomes a zero chunk, a chunk touched in part is written
//                (not a zero chunk).
//   zeroout      (BLKZEROOUT, "no unmap") [a, b) reads zeros; a plain write.
//
// "Reads the origin" means the origin's bytes at the same offsets, zeros
// past the origin's end or without an origin.  Format 1 arrays refuse
// discard; they are not modelled.
#ifndef COW_DISCARD_MODEL_H
#define COW_DISCARD_MODEL_H

#include <cstdint>
#include <functional>
#include <vector>

namespace cowmodel {

// Bytes [off, off + len).
struct Range {
	uint64_t off = 0, len = 0;
	uint64_t end() const { return off + len; }
	bool operator==(const Range &o) const { return off == o.off && len == o.len; }
};

// Chunk numbers [first, end); empty when first >= end.
struct ChunkSpan {
	uint64_t first = 0, end = 0;
	bool empty() const { return first >= end; }
	bool operator==(const ChunkSpan &o) const
	{
		return (empty() && o.empty()) || (first == o.first && end == o.end);
	}
};

struct Geometry {
	uint64_t chunk = 65536;	// C: bytes, a power of two
	uint64_t sub = 4096;	// sub-chunk bytes, 0 = no sub-chunks
	uint64_t size = 0;	// array bytes

	uint64_t chunks() const { return (size + chunk - 1) / chunk; }
	uint64_t chunk_start(uint64_t i) const { return i * chunk; }
	uint64_t chunk_end(uint64_t i) const;
	// chunk a power of two >= 512; sub 0, or a power of two >= 512 that
	// divides chunk; size > 0.
	bool valid() const;
};

// The sub-chunk size of a format 2 array with chunks of `chunk` bytes:
// chunk / 16 from 8 KiB up, 0 (none) below.
uint64_t format2_subchunk(uint64_t chunk);

// The chunks that [a, b) touches, and those it covers entirely (a short last
// chunk is covered when the range reaches the end of the array).  The range
// is clipped to the array.
ChunkSpan chunks_touched(const Geometry &g, uint64_t a, uint64_t b);
ChunkSpan chunks_covered(const Geometry &g, uint64_t a, uint64_t b);

// [start of the first chunk touched, end of the last one): what an operation
// on [a, b) may change at most when the zero-chunk state of its chunks is
// taken into account.  Empty when [a, b) is.
Range chunk_hull(const Geometry &g, uint64_t a, uint64_t b);

// BLKDISCARD of [a, b): the byte ranges that read the origin afterwards,
// ascending and merged.  is_zero(i) says whether chunk i is a zero chunk
// before the discard.
using ZeroChunkFn = std::function<bool(uint64_t chunk)>;
std::vector<Range> discard_to_origin(const Geometry &g, uint64_t a, uint64_t b,
				     const ZeroChunkFn &is_zero);

enum class Op { write, discard, punch_hole, zeroout };

// The zero-chunk flags that `op` on [a, b) changes: set(i, true) for each
// chunk that becomes a zero chunk, set(i, false) for each that is one no
// longer (or may have been one); chunks not named keep their flag.
void zero_flag_changes(const Geometry &g, Op op, uint64_t a, uint64_t b,
		       const std::function<void(uint64_t chunk, bool zero)> &set);

// A byte-for-byte model of a whole array, for tests and small checks: its
// content, its zero chunks and its origin (shorter than the array: zeros
// after its end).  Ranges are clipped to the array.
class ArrayModel {
public:
	ArrayModel(const Geometry &g, std::vector<uint8_t> origin);

	void write(uint64_t off, const uint8_t *data, uint64_t len);
	void discard(uint64_t a, uint64_t b);
	void punch_hole(uint64_t a, uint64_t b);
	void zeroout(uint64_t a, uint64_t b);

	const std::vector<uint8_t> &content() const { return data_; }
	bool zero_chunk(uint64_t i) const { return zero_[i]; }
	uint8_t origin_byte(uint64_t off) const { return off < origin_.size() ? origin_[off] : 0; }
	const Geometry &geometry() const { return g_; }

private:
	void flags(Op op, uint64_t a, uint64_t b);

	Geometry g_;
	std::vector<uint8_t> origin_, data_;
	std::vector<bool> zero_;
};

}  // namespace cowmodel

#endif
