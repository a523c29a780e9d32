// fuzz_node.cc - the map node parser and validator.
//
// Invariants: nothing crashes; unpack + pack_raw reproduce the block; a
// node packed with a fresh checksum validates exactly where it says it is.
#include <cstdlib>
#include <cstring>

#include "cowmeta/node.h"

using namespace cowmeta;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	block_buf b{}, c;
	node n;

	std::memcpy(b.data(), data, std::min(size, b.size()));
	node_traits::unpack(b, n);
	node_traits::pack_raw(n, c);
	if (b != c)
		abort();
	node_check(b, n.blocknr, n.level, n.index, n.seq & kPtrSeqMask, n.seq);
	node_check(b, n.blocknr + 1, n.level, n.index, 0, 0);
	node_traits::pack(n, c);
	if (n.magic == kNodeMagic &&
	    node_check(c, n.blocknr, n.level, n.index, n.seq & kPtrSeqMask, n.seq) != node_status::ok)
		abort();
	if (node_check(c, n.blocknr, n.level, n.index, (n.seq + 1) & kPtrSeqMask, UINT64_MAX) ==
	    node_status::ok)
		abort();
	return 0;
}
