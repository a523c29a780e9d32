// fuzz_superblock.cc - the superblock, handoff and md superblock parsers.
//
// Invariants: nothing crashes; unpack + pack_raw reproduce the structure's
// bytes; a packed superblock with the right magic and version validates;
// the geometry of a superblock without geometry problems is sane, with
// sub-chunks exactly in format 2 at chunks of 16 sectors or more, and
// clean chunks exactly in format 2 with the clean chunks feature; the
// copy-on-read flag is a problem exactly without them or an origin.
#include <cstdlib>
#include <cstring>

#include "cowmeta/dirty_device.h"
#include "cowmeta/handoff.h"
#include "cowmeta/superblock.h"

using namespace cowmeta;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	block_buf b{}, c;
	superblock s;
	geometry g;
	bool geo_bad = false;

	std::memcpy(b.data(), data, std::min(size, b.size()));
	sb_check(b, 0);
	sb_check(b, 1);
	superblock_traits::unpack(b, s);
	bool bad_clean = false, bad_cache = false;
	for (const sb_problem &p : sb_unpack_problems(s, g)) {
		geo_bad |= p.geometry;
		bad_clean |= p.kind == sb_problem::bad_clean;
		bad_cache |= p.kind == sb_problem::bad_cache;
	}
	if (g.clean != (g.format == 2 && (s.incompat & kIncompatClean)) ||
	    bad_clean != ((s.incompat & kIncompatClean) && g.format != 2) ||
	    bad_cache != ((s.flags & kFlagCache) && (!g.clean || (s.flags & kFlagNoOrigin))))
		abort();
	if (!geo_bad) {
		if (!is_power_of_2(g.chunk_blocks) || g.depth < 1 || g.depth > kMaxDepth ||
		    !g.nr_chunks || s.data_start < kMinDataStart)
			abort();
		bool subs = (s.incompat & kIncompatSubchunk) && s.chunk_sectors >= kSubchunkMinChunk;
		if (g.format != format_of(s.incompat) ||
		    g.sub_sectors != (subs ? s.chunk_sectors / kSubchunks : 0) ||
		    (subs && (!(g.subchunks(g.nr_chunks - 1) & 1) ||
			      (g.nr_chunks > 1 && g.subchunks(0) != 0xffff))) ||
		    (!subs && g.subchunks(0)))
			abort();
	}
	superblock_traits::pack_raw(s, c);
	if (std::memcmp(b.data(), c.data(), kSbStructSize))
		abort();
	superblock_traits::pack(s, c);
	if (s.magic == kSbMagic && s.version == kVersion && sb_check(c, s.blocknr) != sb_status::ok)
		abort();

	handoff h;
	handoff_check(b);
	handoff_traits::unpack(b, h);
	handoff_traits::pack(h, c);
	if (h.magic == kHandoffMagic && h.blocknr == kHandoffBlock && h.version == kVersion &&
	    handoff_check(c) != handoff_status::ok)
		abort();

	memory_device dev(3 * kBlockSize);
	md_super md;
	dirty_layout l;
	std::string err;
	dev.write(b.data(), b.size(), kMdSb12Offset);
	md_super_read(dev, md);
	locate_data_area(dev, std::nullopt, l, err);
	return 0;
}
