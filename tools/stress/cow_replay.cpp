// cow-replay: replay a dm-log-writes log onto a device.
//
//   cow-replay list   --log LOG              one line per entry:
//                                            INDEX FLAGS SECTOR NR [MARK]
//   cow-replay apply  --log LOG --dev DEV --from A --to B
//                                            write entries A..B-1 to DEV
//   cow-replay apply  --log LOG --dev DEV --entries I,J,...
//                                            write those entries, in that order
//   cow-replay states --log LOG --seed S --count N [--after I]
//                                            crash states, one a line:
//                                            KIND BASE ENTRIES
//
// dm-log-writes logs a write only once a later flush covers it: at the
// flush's submission the writes completed so far are set aside, and at its
// completion they are logged, then the flush.  A FUA write is logged when it
// completes.  So the log reads: a flush, the FUA writes completed before the
// next flush ended, the batch of writes that flush covers, the flush.
//
// A crash state is every entry up to and including BASE (a flush or FUA
// entry, hence durable), plus ENTRIES ("-" for none): writes of the batch
// after BASE that reached the medium before the power went, in the order
// given.  KIND "flush" and "fua" are the states at the flush and FUA entries
// after entry I (all of them, or 3N/4 evenly spread if there are more);
// KIND "subset" states (the rest of N, spread over the batches) take a
// random subset of a batch in a random order,
// on top of the last flush or FUA entry before it: the worst a volatile
// write cache can do.  Writes are never taken without the FUA writes logged
// before them, since those may have completed before they were issued.
//
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
#include <algorithm>
#include <random>
#include <sstream>
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

struct Logged {
	uint64_t sector, nr_sectors, flags, pos;  // pos: byte offset of the data
	std::string mark;
};

std::vector<Logged> read_log(int lfd, uint64_t *ss)
{
	Super s;
	read_at(lfd, &s, sizeof(s), 0);
	if (s.magic != kMagic || s.version != 1 || s.sectorsize < 512 || s.sectorsize > 65536)
		fail("not a dm-log-writes log");
	*ss = s.sectorsize;
	std::vector<uint8_t> hdr(*ss);
	std::vector<Logged> log;
	uint64_t pos = *ss;  // first entry follows the super block
	for (uint64_t idx = 0; idx < s.nr_entries; idx++) {
		read_at(lfd, hdr.data(), *ss, pos);
		Entry e;
		std::memcpy(&e, hdr.data(), sizeof(e));
		pos += *ss;
		Logged l{e.sector, e.nr_sectors, e.flags, pos, {}};
		if (e.flags & kMark)
			l.mark.assign(reinterpret_cast<char *>(hdr.data()) + sizeof(e),
				      strnlen(reinterpret_cast<char *>(hdr.data()) + sizeof(e),
					      std::min<uint64_t>(e.data_len, *ss - sizeof(e))));
		if (!(e.flags & kDiscard))
			pos += e.nr_sectors * *ss;
		log.push_back(l);
	}
	return log;
}

bool is_write(const Logged &l)
{
	return !(l.flags & (kMark | kDiscard)) && l.nr_sectors;
}

void apply(int lfd, int dfd, uint64_t ss, const Logged &l)
{
	if (!is_write(l))
		return;
	std::vector<uint8_t> data(l.nr_sectors * ss);
	read_at(lfd, data.data(), data.size(), l.pos);
	if (pwrite(dfd, data.data(), data.size(), static_cast<off_t>(l.sector * ss)) != static_cast<ssize_t>(data.size()))
		fail("write to the replay device failed");
}

void states(const std::vector<Logged> &log, uint64_t seed, uint64_t count, uint64_t after)
{
	struct State {
		uint64_t base;
		std::string kind;
		std::vector<uint64_t> extra;
	};
	std::vector<State> out;
	// batches: the writes between a barrier (flush or FUA) and the next flush
	std::vector<std::pair<uint64_t, std::vector<uint64_t>>> batches;
	uint64_t base = after;
	std::vector<uint64_t> pending;
	for (uint64_t i = after + 1; i < log.size(); i++) {
		const Logged &l = log[i];
		if (l.flags & (kFlush | kFua)) {
			if ((l.flags & kFlush) && !pending.empty())
				batches.emplace_back(base, pending);
			pending.clear();
			base = i;
			out.push_back({i, (l.flags & kFlush) ? "flush" : "fua", {}});
		} else if (is_write(l)) {
			pending.push_back(i);
		}
	}
	// More flush and FUA points than three quarters of @count: keep that
	// many, evenly spread (the first and last always).  The rest of @count
	// are subset states, spread over the batches round-robin.
	uint64_t keep = count - count / 4;
	if (out.size() > keep && keep > 1) {
		std::vector<State> picked;
		for (uint64_t i = 0; i < keep; i++)
			picked.push_back(out[i * (out.size() - 1) / (keep - 1)]);
		out.swap(picked);
	}
	uint64_t want = count > out.size() ? count - out.size() : 0;
	uint64_t made = 0;
	std::mt19937_64 rng(seed);
	for (size_t round = 0; !batches.empty() && made < want; round++)
		for (auto &[b, writes] : batches) {
			if (made++ >= want)
				break;
			std::vector<uint64_t> pick;
			for (uint64_t w : writes)
				if (rng() & 1)
					pick.push_back(w);
			if (pick.empty())
				pick.push_back(writes[rng() % writes.size()]);
			std::shuffle(pick.begin(), pick.end(), rng);
			out.push_back({b, "subset", pick});
		}
	std::stable_sort(out.begin(), out.end(), [](const State &x, const State &y) { return x.base < y.base; });
	for (const State &st : out) {
		std::string list;
		for (uint64_t e : st.extra)
			list += (list.empty() ? "" : ",") + std::to_string(e);
		std::printf("%s %" PRIu64 " %s\n", st.kind.c_str(), st.base, list.empty() ? "-" : list.c_str());
	}
}

[[noreturn]] void usage()
{
	fail("usage: cow-replay list --log LOG\n"
	     "       cow-replay apply --log LOG --dev DEV (--from A --to B | --entries I,J,...)\n"
	     "       cow-replay states --log LOG --seed S --count N [--after I]");
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	std::string mode = argv[1], logname, dev, entries;
	uint64_t from = 0, to = UINT64_MAX, seed = 1, count = 200, after = 0;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		std::string k = argv[i], v = argv[i + 1];
		if (k == "--log") logname = v;
		else if (k == "--dev") dev = v;
		else if (k == "--from") from = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--to") to = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--entries") entries = v;
		else if (k == "--seed") seed = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--count") count = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--after") after = std::strtoull(v.c_str(), nullptr, 0);
		else fail("unknown option " + k);
	}
	if (mode != "list" && mode != "apply" && mode != "states")
		usage();
	int lfd = ::open(logname.c_str(), O_RDONLY);
	if (lfd < 0)
		fail("cannot open log " + logname);
	uint64_t ss;
	std::vector<Logged> log = read_log(lfd, &ss);
	if (mode == "list") {
		for (uint64_t idx = 0; idx < log.size(); idx++) {
			const Logged &e = log[idx];
			std::printf("%" PRIu64 " %s%s%s%s %" PRIu64 " %" PRIu64 "%s%s\n", idx,
				    e.flags & kFlush ? "F" : "-", e.flags & kFua ? "U" : "-",
				    e.flags & kDiscard ? "D" : "-", e.flags & kMark ? "M" : "-",
				    e.sector, e.nr_sectors, e.mark.empty() ? "" : " ", e.mark.c_str());
		}
	} else if (mode == "states") {
		if (after >= log.size())
			fail("--after is beyond the log");
		states(log, seed, count, after);
	} else {
		int dfd = ::open(dev.c_str(), O_WRONLY);
		if (dfd < 0)
			fail("cannot open " + dev);
		if (!entries.empty()) {
			std::stringstream in(entries);
			std::string item;
			while (std::getline(in, item, ',')) {
				uint64_t idx = std::strtoull(item.c_str(), nullptr, 0);
				if (idx >= log.size())
					fail("entry " + item + " is beyond the log");
				apply(lfd, dfd, ss, log[idx]);
			}
		} else {
			for (uint64_t idx = from; idx < log.size() && idx < to; idx++)
				apply(lfd, dfd, ss, log[idx]);
		}
		if (fsync(dfd) < 0 || close(dfd) < 0)
			fail("fsync of " + dev + " failed");
	}
	if (std::fflush(stdout) != 0 || std::ferror(stdout))
		fail("cannot write the output");
	return 0;
}

