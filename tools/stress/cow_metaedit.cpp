// cow-metaedit: change one field of a cow metadata block and give the block
// a valid checksum again, so that tests can present the kernel with
// metadata that is well formed but wrong (what a tool bug or a crafted
// image would look like).  Not an administration tool: cow_repair is.
//
// Usage:
//   cow-metaedit DEVICE BLOCK entry I VALUE   map node: entries[I] = VALUE
//                (+N or -N: entries[I] += N or -= N)
//   cow-metaedit DEVICE BLOCK missing I MASK  map leaf: bits 48-63 of
//                entries[I] (the missing sub-chunks of format 2) = MASK,
//                the slot kept
//   cow-metaedit DEVICE BLOCK zero I          map leaf: entries[I] = the
//                zero chunk entry 0x0000ffffffffffff (a zero chunk in
//                format 2; out of range in format 1, and after a
//                "missing" edit)
//   cow-metaedit DEVICE BLOCK sb FIELD VALUE  superblock: FIELD = VALUE
//                (meta_unit, meta_used, alloc_next, mapped_chunks, seq,
//                incompat; format 1 or 2: clear or set the format 2
//                incompat bit, other bits kept)
// BLOCK is the 4 KiB block number on DEVICE (not relative to md's data
// area).  A block without a valid magic and checksum is left alone (exit
// 3).  Exit status: 0 changed, 1 I/O error, 2 usage, 3 not a valid block.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cowmeta/node.h"
#include "cowmeta/superblock.h"

namespace {

int usage()
{
	std::fprintf(stderr,
		     "usage: cow-metaedit DEVICE BLOCK entry I [+|-]VALUE\n"
		     "       cow-metaedit DEVICE BLOCK missing I MASK\n"
		     "       cow-metaedit DEVICE BLOCK zero I\n"
		     "       cow-metaedit DEVICE BLOCK sb FIELD VALUE\n");
	return 2;
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end = nullptr;

	errno = 0;
	*v = std::strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0';
}

}  // namespace

int main(int argc, char **argv)
{
	uint64_t block, a, value = 0;

	// "zero I" has no VALUE.
	bool zero = argc == 5 && !std::strcmp(argv[3], "zero");
	// A leading sign makes VALUE relative (map node entries only).
	int sign = argc == 6 ? (argv[5][0] == '+' ? 1 : argv[5][0] == '-' ? -1 : 0) : 0;
	if ((argc != 6 && !zero) || !parse_u64(argv[2], &block) ||
	    (!zero && !parse_u64(argv[5] + (sign ? 1 : 0), &value)))
		return usage();
	std::string what = argv[3];
	if (argc == 6 && what == "zero")
		return usage();
	int fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0) {
		std::fprintf(stderr, "cow-metaedit: %s: %s\n", argv[1], std::strerror(errno));
		return 1;
	}
	void *mem = nullptr;
	if (posix_memalign(&mem, cowmeta::kBlockSize, cowmeta::kBlockSize))
		return 1;
	auto *buf = static_cast<cowmeta::block_buf *>(mem);
	off_t off = static_cast<off_t>(block * cowmeta::kBlockSize);
	if (pread(fd, buf->data(), cowmeta::kBlockSize, off) != (ssize_t)cowmeta::kBlockSize) {
		std::fprintf(stderr, "cow-metaedit: cannot read block %llu\n", (unsigned long long)block);
		return 1;
	}
	if (what == "entry" || what == "missing" || what == "zero") {
		if (!parse_u64(argv[4], &a) || a >= cowmeta::kNodeEntries ||
		    (what == "missing" && (sign || value > UINT16_MAX)))
			return usage();
		if (!cowmeta::node_block_valid(*buf)) {
			std::fprintf(stderr, "cow-metaedit: block %llu is not a valid map node\n",
				     (unsigned long long)block);
			return 3;
		}
		cowmeta::node n;
		cowmeta::node_traits::unpack(*buf, n);
		if (what == "zero")
			n.entries[a] = cowmeta::kLeafZero;
		else if (what == "missing")
			n.entries[a] = (n.entries[a] & cowmeta::kLeafSlotMask) |
				       value << cowmeta::kLeafMissingShift;
		else
			n.entries[a] = sign > 0 ? n.entries[a] + value :
				       sign < 0 ? n.entries[a] - value : value;
		cowmeta::node_traits::pack(n, *buf);
	} else if (what == "sb") {
		if (sign)
			return usage();
		cowmeta::superblock sb;
		cowmeta::superblock_traits::unpack(*buf, sb);
		if (cowmeta::sb_check(*buf, sb.blocknr) != cowmeta::sb_status::ok) {
			std::fprintf(stderr, "cow-metaedit: block %llu is not a valid cow superblock\n",
				     (unsigned long long)block);
			return 3;
		}
		std::string f = argv[4];
		if (f == "meta_unit")
			sb.meta_unit = value;
		else if (f == "meta_used")
			sb.meta_used = static_cast<uint32_t>(value);
		else if (f == "alloc_next")
			sb.alloc_next = value;
		else if (f == "mapped_chunks")
			sb.mapped_chunks = value;
		else if (f == "seq")
			sb.seq = value;
		else if (f == "incompat")
			sb.incompat = value;
		else if (f == "format" && (value == 1 || value == 2))
			sb.incompat = value == 2 ? sb.incompat | cowmeta::kIncompatSubchunk :
				      sb.incompat & ~cowmeta::kIncompatSubchunk;
		else
			return usage();
		cowmeta::superblock_traits::pack(sb, *buf);
	} else {
		return usage();
	}
	if (pwrite(fd, buf->data(), cowmeta::kBlockSize, off) != (ssize_t)cowmeta::kBlockSize ||
	    fsync(fd) || close(fd)) {
		std::fprintf(stderr, "cow-metaedit: cannot write block %llu\n", (unsigned long long)block);
		return 1;
	}
	std::free(mem);
	return 0;
}
