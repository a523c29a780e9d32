// cow-crashwork: a crash-consistency workload and its checker.
//
//   cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--threads T]
//                        [--fua-every F] [--after-sync CMD] [--on-enospc CMD]
//   cow-crashwork verify --dev DEV --origin DEV|none --seed S [--blocks K] --started N --synced M
//                        [--failed G,G,...]
//
// write: generation g = 0..N-1 writes K self-describing 4 KiB records (single
// blocks and aligned 64 KiB runs, O_DIRECT) at positions drawn from (S, g),
// shared out among T threads, then fdatasync()s the device, prints "synced g"
// and runs CMD with %d replaced by g (e.g. a dm-log-writes mark).  Every F-th
// generation writes with RWF_DSYNC (FUA) instead and needs no fdatasync.  A
// write failing with ENOSPC fails its generation: the others finish, no sync
// is claimed, "failed g" is printed and the --on-enospc CMD runs (e.g. a mark
// and an online growth of the device); any other error ends the run.
//
// verify: after a crash, every block must hold either a record that was
// written to exactly that block by a generation that started (never another
// block's data, never garbage) and is not older than the newest *synced*
// generation that wrote the block, or, if no synced generation wrote it,
// possibly the origin's block (zeros with "none").  Generations 0..M are
// synced, M = -1 for none, except the failed generations listed; N
// generations started.  Exit: 0 consistent, 1 violation (each printed), 2
// usage or I/O error.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/fs.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kMagic = 0x6b726f7768736172ULL;  // "rashwork"

struct Record {
	uint64_t magic, block, gen, seed;
};

[[noreturn]] void fail(const std::string &msg)
{
	std::fprintf(stderr, "cow-crashwork: %s: %s\n", msg.c_str(), std::strerror(errno));
	std::exit(2);
}

uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

void make_record(uint8_t *buf, uint64_t block, uint64_t gen, uint64_t seed)
{
	Record r{kMagic, block, gen, seed};
	std::memcpy(buf, &r, sizeof(r));
	std::mt19937_64 rng(seed ^ (gen * 0x9e3779b97f4a7c15ULL) ^ (block << 20));
	for (size_t i = sizeof(r); i + 8 <= kBlock - 8; i += 8) {
		uint64_t v = rng();
		std::memcpy(buf + i, &v, 8);
	}
	uint64_t h = fnv(buf, kBlock - 8);
	std::memcpy(buf + kBlock - 8, &h, 8);
}

bool parse_record(const uint8_t *buf, Record *r)
{
	uint64_t h;
	std::memcpy(r, buf, sizeof(*r));
	std::memcpy(&h, buf + kBlock - 8, 8);
	return r->magic == kMagic && h == fnv(buf, kBlock - 8);
}

// The runs (first block, number of blocks) generation g writes.
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

uint64_t dev_blocks(int fd)
{
	uint64_t sz = 0;
	if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
		off_t e = lseek(fd, 0, SEEK_END);
		if (e < 0)
			fail("cannot size device");
		sz = static_cast<uint64_t>(e);
	}
	return sz / kBlock;
}

struct Args {
	std::string mode, dev, origin = "none", after, on_enospc;
	uint64_t seed = 1, gens = 10, started = 0, fua_every = 0;
	long long synced = -1;
	unsigned blocks = 24, threads = 1;
	std::set<uint64_t> failed;
};

[[noreturn]] void usage()
{
	std::fprintf(stderr,
		"usage: cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--threads T]\n"
		"                            [--fua-every F] [--after-sync CMD] [--on-enospc CMD]\n"
		"       cow-crashwork verify --dev DEV --origin DEV|none --seed S --started N --synced M\n"
		"                            [--failed G,G,...]\n");
	std::exit(2);
}

void run_cmd(const std::string &tmpl, uint64_t g)
{
	std::string cmd = tmpl;
	size_t p = cmd.find("%d");
	if (p != std::string::npos)
		cmd.replace(p, 2, std::to_string(g));
	std::fflush(stdout);
	if (std::system(cmd.c_str()) != 0)
		fail("command failed: " + cmd);
}

// One thread's share of generation g: runs i = t, t + T, ...  Returns false
// if a write failed with ENOSPC; any other error ends the program.
bool write_share(int fd, const Args &a, uint64_t g, uint64_t nblocks, unsigned t, bool fua)
{
	void *mem;
	if (posix_memalign(&mem, 4096, 16 * kBlock))
		fail("out of memory");
	auto *buf = static_cast<uint8_t *>(mem);
	bool ok = true;
	auto runs = plan(a.seed, g, nblocks, a.blocks);
	for (size_t r = t; r < runs.size(); r += a.threads) {
		auto [first, n] = runs[r];
		for (uint64_t i = 0; i < n; i++)
			make_record(buf + i * kBlock, first + i, g, a.seed);
		struct iovec iov = {buf, n * kBlock};
		ssize_t w = pwritev2(fd, &iov, 1, static_cast<off_t>(first * kBlock), fua ? RWF_DSYNC : 0);
		if (w < 0 && errno == ENOSPC)
			ok = false;
		else if (w != static_cast<ssize_t>(n * kBlock))
			fail("write failed");
	}
	free(mem);
	return ok;
}

int do_write(const Args &a)
{
	int fd = ::open(a.dev.c_str(), O_RDWR | O_DIRECT);
	if (fd < 0)
		fail("cannot open " + a.dev);
	uint64_t nblocks = dev_blocks(fd);
	for (uint64_t g = 0; g < a.gens; g++) {
		bool fua = a.fua_every && g % a.fua_every == a.fua_every - 1;
		std::atomic<bool> ok{true};
		std::vector<std::thread> workers;
		for (unsigned t = 0; t < a.threads; t++)
			workers.emplace_back([&, t] {
				if (!write_share(fd, a, g, nblocks, t, fua))
					ok = false;
			});
		for (auto &w : workers)
			w.join();
		if (!ok) {
			std::printf("failed %" PRIu64 "\n", g);
			if (!a.on_enospc.empty())
				run_cmd(a.on_enospc, g);
			continue;
		}
		if (!fua && fdatasync(fd) < 0)
			fail("fdatasync failed");
		std::printf("synced %" PRIu64 "%s\n", g, fua ? " (FUA writes)" : "");
		if (!a.after.empty())
			run_cmd(a.after, g);
	}
	std::fflush(stdout);
	if (close(fd) < 0)
		fail("close failed");
	return 0;
}

int do_verify(const Args &a)
{
	int fd = ::open(a.dev.c_str(), O_RDONLY | O_DIRECT);
	if (fd < 0)
		fail("cannot open " + a.dev);
	int ofd = -1;
	if (a.origin != "none" && (ofd = ::open(a.origin.c_str(), O_RDONLY | O_DIRECT)) < 0)
		fail("cannot open " + a.origin);
	uint64_t nblocks = dev_blocks(fd);
	// newest synced generation per block, and every generation per block
	std::vector<long long> need(nblocks, -1);
	std::vector<std::vector<uint32_t>> wrote(nblocks);
	for (uint64_t g = 0; g < a.started; g++)
		for (auto [first, n] : plan(a.seed, g, nblocks, a.blocks))
			for (uint64_t b = first; b < first + n; b++) {
				wrote[b].push_back(static_cast<uint32_t>(g));
				if (static_cast<long long>(g) <= a.synced && !a.failed.count(g))
					need[b] = static_cast<long long>(g);
			}
	// Read in runs of kRun blocks: one syscall per block is slow under
	// emulation.
	constexpr uint64_t kRun = 256;
	void *m1, *m2;
	if (posix_memalign(&m1, 4096, kRun * kBlock) || posix_memalign(&m2, 4096, kRun * kBlock))
		fail("out of memory");
	auto *run = static_cast<uint8_t *>(m1), *orun = static_cast<uint8_t *>(m2);
	unsigned errors = 0, records = 0;
	auto bad = [&](uint64_t b, const std::string &why) {
		if (errors++ < 20)
			std::fprintf(stderr, "cow-crashwork: block %" PRIu64 ": %s\n", b, why.c_str());
	};
	for (uint64_t b = 0; b < nblocks; b++) {
		if (b % kRun == 0) {
			uint64_t n = std::min(kRun, nblocks - b);
			if (pread(fd, run, n * kBlock, static_cast<off_t>(b * kBlock)) != static_cast<ssize_t>(n * kBlock))
				fail("read failed at block " + std::to_string(b));
			if (ofd >= 0 && pread(ofd, orun, n * kBlock, static_cast<off_t>(b * kBlock)) != static_cast<ssize_t>(n * kBlock))
				fail("origin read failed at block " + std::to_string(b));
		}
		const uint8_t *buf = run + (b % kRun) * kBlock;
		const uint8_t *obuf = orun + (b % kRun) * kBlock;
		Record r;
		if (parse_record(buf, &r) && r.seed == a.seed) {
			records++;
			bool known = false;
			for (uint32_t g : wrote[b])
				known |= g == r.gen;
			if (r.block != b)
				bad(b, "holds the record of block " + std::to_string(r.block) + " (another block's data)");
			else if (!known)
				bad(b, "holds generation " + std::to_string(r.gen) + ", which never wrote it");
			else if (static_cast<long long>(r.gen) < need[b])
				bad(b, "holds generation " + std::to_string(r.gen) + " but synced generation " +
					       std::to_string(need[b]) + " wrote it later (lost write)");
			continue;
		}
		static const uint8_t zeros[kBlock] = {};
		if (std::memcmp(buf, ofd >= 0 ? obuf : zeros, kBlock))
			bad(b, "is neither a record nor the origin's block (garbage)");
		else if (need[b] >= 0)
			bad(b, "reads the origin but synced generation " + std::to_string(need[b]) + " wrote it (lost write)");
	}
	std::printf("cow-crashwork: %" PRIu64 " blocks, %u records, generations started %" PRIu64 ", synced up to %lld: %s\n",
		    nblocks, records, a.started, a.synced, errors ? "VIOLATIONS" : "consistent");
	return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	Args a;
	a.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		std::string k = argv[i];
		if (i + 1 >= argc)
			usage();
		std::string v = argv[++i];
		if (k == "--dev") a.dev = v;
		else if (k == "--origin") a.origin = v;
		else if (k == "--seed") a.seed = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--gens") a.gens = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--blocks") a.blocks = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 0));
		else if (k == "--started") a.started = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--synced") a.synced = std::strtoll(v.c_str(), nullptr, 0);
		else if (k == "--after-sync") a.after = v;
		else if (k == "--on-enospc") a.on_enospc = v;
		else if (k == "--threads") a.threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 0));
		else if (k == "--fua-every") a.fua_every = std::strtoull(v.c_str(), nullptr, 0);
		else if (k == "--failed") {
			std::stringstream ss(v);
			std::string item;
			while (std::getline(ss, item, ','))
				if (!item.empty())
					a.failed.insert(std::strtoull(item.c_str(), nullptr, 0));
		} else usage();
	}
	if (a.dev.empty() || a.threads < 1 || a.threads > 64)
		usage();
	if (a.mode == "write")
		return do_write(a);
	if (a.mode == "verify")
		return do_verify(a);
	usage();
}
