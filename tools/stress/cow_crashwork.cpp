// cow-crashwork: a crash-consistency workload and its checker.
//
//   cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--threads T]
//                        [--fua-every F] [--discard-every D] [--after-sync CMD]
//                        [--on-enospc CMD]
//   cow-crashwork verify --dev DEV --origin DEV|none --seed S [--blocks K] --started N --synced M
//                        [--failed G,G,...] [--discard-every D]
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
// With --discard-every D, generation g with g % D == D - 1 first discards
// (BLKDISCARD) up to 4 aligned 64 KiB runs drawn from (S, g) among those
// that earlier generations wrote a block of and g does not write, prints
// "discarded g FIRST-BLOCK ...", then writes as usual (into chunks that
// need new slots, where slots freed too early would show), and ends with
// an fdatasync even when its writes are FUA (which would not make the
// discards durable).  On md-cow (format 2, chunks up to 1 MiB) a discarded
// run reads the origin: it is made of whole chunks or whole sub-chunks.
//
// verify: after a crash, every block must hold either a record that was
// written to exactly that block by a generation that started (never another
// block's data, never garbage) and is not older than the newest *synced*
// generation that wrote the block, or, if no synced generation wrote it,
// possibly the origin's block (zeros with "none").  Generations 0..M are
// synced, M = -1 for none, except the failed generations listed; N
// generations started.  With --discard-every (the same D as the write) the
// discards are derived again and count like writes: let h be the newest
// synced generation that wrote or discarded the block; a record of the
// block by a started generation >= h that wrote it is acceptable, and the
// origin's block is when there is no h or a started generation >= h
// discarded the block.  Exit: 0 consistent, 1 violation (each printed), 2
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

#include "stress/crashwork_model.h"

namespace {

using crashwork::plan;

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
	uint64_t seed = 1, gens = 10, started = 0, fua_every = 0, discard_every = 0;
	long long synced = -1;
	unsigned blocks = 24, threads = 1;
	std::set<uint64_t> failed;
};

[[noreturn]] void usage()
{
	std::fprintf(stderr,
		"usage: cow-crashwork write  --dev DEV --seed S --gens N [--blocks K] [--threads T]\n"
		"                            [--fua-every F] [--discard-every D] [--after-sync CMD]\n"
		"                            [--on-enospc CMD]\n"
		"       cow-crashwork verify --dev DEV --origin DEV|none --seed S --started N --synced M\n"
		"                            [--failed G,G,...] [--discard-every D]\n");
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
	crashwork::Workload w{a.seed, nblocks, a.blocks, a.discard_every};
	auto schedule = crashwork::discard_schedule(w, a.gens);
	for (uint64_t g = 0; g < a.gens; g++) {
		bool fua = a.fua_every && g % a.fua_every == a.fua_every - 1;
		bool discards = crashwork::discards_in(w, g);
		if (discards) {
			std::string runs;
			for (uint64_t first : schedule[g]) {
				uint64_t range[2] = {first * kBlock, crashwork::kRunBlocks * kBlock};
				if (ioctl(fd, BLKDISCARD, range) < 0)
					fail("BLKDISCARD of blocks " + std::to_string(first) + "+16 failed");
				runs += " " + std::to_string(first);
			}
			std::printf("discarded %" PRIu64 "%s\n", g, runs.c_str());
		}
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
		if ((!fua || discards) && fdatasync(fd) < 0)
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
	// Per block: the newest synced generation that wrote or discarded it,
	// every started generation that wrote it, the newest that discarded it.
	crashwork::Workload w{a.seed, nblocks, a.blocks, a.discard_every};
	std::vector<crashwork::BlockHistory> hist = crashwork::histories(w, a.started, a.synced, a.failed);
	uint64_t discarded_runs = 0;
	for (const auto &runs : crashwork::discard_schedule(w, a.started))
		discarded_runs += runs.size();
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
		std::string why;
		if (parse_record(buf, &r) && r.seed == a.seed) {
			records++;
			why = crashwork::judge_record(hist[b], b, r.block, r.gen);
		} else {
			static const uint8_t zeros[kBlock] = {};
			if (std::memcmp(buf, ofd >= 0 ? obuf : zeros, kBlock))
				why = "is neither a record nor the origin's block (garbage)";
			else
				why = crashwork::judge_origin(hist[b]);
		}
		if (!why.empty())
			bad(b, why);
	}
	std::string disc;
	if (a.discard_every)
		disc = ", " + std::to_string(discarded_runs) + " runs discarded";
	std::printf("cow-crashwork: %" PRIu64 " blocks, %u records, generations started %" PRIu64 ", synced up to %lld%s: %s\n",
		    nblocks, records, a.started, a.synced, disc.c_str(), errors ? "VIOLATIONS" : "consistent");
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
		else if (k == "--discard-every") a.discard_every = std::strtoull(v.c_str(), nullptr, 0);
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
