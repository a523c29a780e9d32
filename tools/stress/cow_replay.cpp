// cow-replay: replay a dm-log-writes log onto a device, entry by entry.
//
//   cow-replay list  --log LOGDEV                 one line per entry:
//                                                 INDEX FLAGS SECTOR NR [MARK]
//   cow-replay apply --log LOGDEV --dev DEV --from A --to B
//                                                 write entries A..B-1 to DEV
//
// dm-log-writes logs a write only once a later flush covers it, in
// completion order, so the device after replaying up to and including a
// FLUSH entry is what the disk held after that flush if every write not yet
// flushed was lost: the worst case of a volatile write cache at power loss.
// Format: a super block at sector 0 (magic, version, nr_entries, sectorsize),
// then per entry one sectorsize block with {sector, nr_sectors, flags,
// data_len} (+ mark text) followed by nr_sectors blocks of data; sector and
// nr_sectors count sectorsize units.
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kMagic = 0x6a736677736872ULL;
enum : uint64_t { kFlush = 1, kFua = 2, kDiscard = 4, kMark = 8, kMeta = 16 };

struct Super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct Entry {
	uint64_t sector, nr_sectors, flags, data_len;
} __attribute__((packed));

[[noreturn]] void fail(const std::string &msg)
{
	std::fprintf(stderr, "cow-replay: %s\n", msg.c_str());
	std::exit(2);
}

void read_at(int fd, void *buf, uint64_t len, uint64_t off)
{
	if (pread(fd, buf, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
		fail("short read of the log at byte " + std::to_string(off));
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		fail("usage: cow-replay list --log LOG | apply --log LOG --dev DEV --from A --to B");
	std::string mode = argv[1], log, dev;
	uint64_t from = 0, to = UINT64_MAX;
	for (int i = 2; i + 1 < argc; i += 2) {
		std::string k = argv[i], v = argv[i + 1];
		if (k == "--log") log = v;
		else if (k == "--dev") dev = v;
		else if (k == "--from") from = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--to") to = std::strtoull(v.c_str(), nullptr, 0);
		else fail("unknown option " + k);
	}
	int lfd = ::open(log.c_str(), O_RDONLY);
	if (lfd < 0)
		fail("cannot open log " + log);
	Super s;
	read_at(lfd, &s, sizeof(s), 0);
	if (s.magic != kMagic || s.version != 1 || s.sectorsize < 512 || s.sectorsize > 65536)
		fail("not a dm-log-writes log: " + log);
	int dfd = -1;
	if (mode == "apply" && (dfd = ::open(dev.c_str(), O_WRONLY)) < 0)
		fail("cannot open " + dev);
	else if (mode != "apply" && mode != "list")
		fail("unknown mode " + mode);

	const uint64_t ss = s.sectorsize;
	std::vector<uint8_t> hdr(ss), data;
	uint64_t pos = ss;  // first entry follows the super block
	for (uint64_t idx = 0; idx < s.nr_entries && idx < to; idx++) {
		read_at(lfd, hdr.data(), ss, pos);
		Entry e;
		std::memcpy(&e, hdr.data(), sizeof(e));
		pos += ss;
		uint64_t bytes = (e.flags & kDiscard) ? 0 : e.nr_sectors * ss;
		if (mode == "list") {
			std::string mark;
			if (e.flags & kMark)
				mark.assign(reinterpret_cast<char *>(hdr.data()) + sizeof(e),
					    std::min<uint64_t>(e.data_len, ss - sizeof(e)));
			std::printf("%" PRIu64 " %s%s%s%s %" PRIu64 " %" PRIu64 "%s%s\n", idx,
				    e.flags & kFlush ? "F" : "-", e.flags & kFua ? "U" : "-",
				    e.flags & kDiscard ? "D" : "-", e.flags & kMark ? "M" : "-",
				    e.sector, e.nr_sectors, mark.empty() ? "" : " ", mark.c_str());
		} else if (idx >= from && bytes) {
			data.resize(bytes);
			read_at(lfd, data.data(), bytes, pos);
			if (pwrite(dfd, data.data(), bytes, static_cast<off_t>(e.sector * ss)) != static_cast<ssize_t>(bytes))
				fail("write to " + dev + " failed");
		}
		pos += bytes;
	}
	if (dfd >= 0 && fsync(dfd) < 0)
		fail("fsync of " + dev + " failed");
	return 0;
}
