// cow-crashwork: a crash-consistency workload and its checker.
//
//   cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--after-sync CMD]
//   cow-crashwork verify --dev DEV --origin DEV|none --seed S [--blocks K] --started N --synced M
//
// write: generation g = 0..N-1 writes K self-describing 4 KiB records (single
// blocks and aligned 64 KiB runs, O_DIRECT) at positions drawn from (S, g),
// then fdatasync()s the device, prints "synced g" and runs CMD with %d
// replaced by g (e.g. a dm-log-writes mark).
//
// verify: after a crash, every block must hold either a record that was
// written to exactly that block by a generation that started (never another
// block's data, never garbage) and is not older than the newest *synced*
// generation that wrote the block, or, if no synced generation wrote it,
// possibly the origin's block (zeros with "none").  Generations 0..M are
// synced, M = -1 for none; N generations started.  Exit: 0 consistent,
// 1 violation (each printed), 2 usage or I/O error.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
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
	std::string mode, dev, origin = "none", after;
	uint64_t seed = 1, gens = 10, started = 0;
	long long synced = -1;
	unsigned blocks = 24;
};

[[noreturn]] void usage()
{
	std::fprintf(stderr,
		"usage: cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--after-sync CMD]\n"
		"       cow-crashwork verify --dev DEV --origin DEV|none --seed S --started N --synced M\n");
	std::exit(2);
}

int do_write(const Args &a)
{
	int fd = ::open(a.dev.c_str(), O_RDWR | O_DIRECT);
	if (fd < 0)
		fail("cannot open " + a.dev);
	uint64_t nblocks = dev_blocks(fd);
	void *mem;
	if (posix_memalign(&mem, 4096, 16 * kBlock))
		fail("out of memory");
	auto *buf = static_cast<uint8_t *>(mem);
	for (uint64_t g = 0; g < a.gens; g++) {
		for (auto [first, n] : plan(a.seed, g, nblocks, a.blocks)) {
			for (uint64_t i = 0; i < n; i++)
				make_record(buf + i * kBlock, first + i, g, a.seed);
			if (pwrite(fd, buf, n * kBlock, static_cast<off_t>(first * kBlock)) != static_cast<ssize_t>(n * kBlock))
				fail("write failed");
		}
		if (fdatasync(fd) < 0)
			fail("fdatasync failed");
		std::printf("synced %" PRIu64 "\n", g);
		std::fflush(stdout);
		if (!a.after.empty()) {
			std::string cmd = a.after;
			size_t p = cmd.find("%d");
			if (p != std::string::npos)
				cmd.replace(p, 2, std::to_string(g));
			if (std::system(cmd.c_str()) != 0)
				fail("after-sync command failed: " + cmd);
		}
	}
	close(fd);
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
				if (static_cast<long long>(g) <= a.synced)
					need[b] = static_cast<long long>(g);
			}
	void *m1, *m2;
	if (posix_memalign(&m1, 4096, kBlock) || posix_memalign(&m2, 4096, kBlock))
		fail("out of memory");
	auto *buf = static_cast<uint8_t *>(m1), *obuf = static_cast<uint8_t *>(m2);
	unsigned errors = 0, records = 0;
	auto bad = [&](uint64_t b, const std::string &why) {
		if (errors++ < 20)
			std::fprintf(stderr, "cow-crashwork: block %" PRIu64 ": %s\n", b, why.c_str());
	};
	for (uint64_t b = 0; b < nblocks; b++) {
		if (pread(fd, buf, kBlock, static_cast<off_t>(b * kBlock)) != static_cast<ssize_t>(kBlock))
			fail("read failed at block " + std::to_string(b));
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
		if (ofd >= 0) {
			if (pread(ofd, obuf, kBlock, static_cast<off_t>(b * kBlock)) != static_cast<ssize_t>(kBlock))
				fail("origin read failed");
		} else {
			std::memset(obuf, 0, kBlock);
		}
		if (std::memcmp(buf, obuf, kBlock))
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
		else usage();
	}
	if (a.dev.empty())
		usage();
	if (a.mode == "write")
		return do_write(a);
	if (a.mode == "verify")
		return do_verify(a);
	usage();
}
