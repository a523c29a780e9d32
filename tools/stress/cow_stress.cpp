// cow-stress: differential integrity test for block devices.
//
// Issues seeded random I/O (reads and writes of 512 B to --max-io bytes at
// random alignment, O_DIRECT and buffered, from several threads) to a device
// under test and the same writes to a reference device that started with the
// same content.  Reads of the device under test are compared with the
// reference; at every checkpoint and at the end both devices are flushed and
// compared in full.  Overlapping I/O is serialised with range locks (1 MiB
// stripes, or --lock-unit) so the outcome does not depend on thread
// scheduling.  --hot N confines the I/O to N chunks so that threads race on
// the same chunks (first writes, reads during a copy-up) while touching
// different blocks of them; --dsync and --fsync add FUA writes and flushes.
//
// --discard and --zeroes add BLKDISCARD, write-zeroes that may unmap
// (fallocate PUNCH_HOLE) and BLKZEROOUT of random ranges; the reference gets
// what md-cow's format 2 must then read (discard_model.h): the origin's
// bytes (--origin) where a discard covers whole chunks or whole sub-chunks
// of a chunk that is not a zero chunk, zeros where a range was zeroed.  The
// model keeps, per chunk of --chunk bytes, whether it is a zero chunk; it
// starts with none (a new array, or --zero-chunks FILE).  Such an op locks
// every chunk it touches whole, since what it does to one part of a chunk
// depends on the rest.  Exit status: 0 identical, 1 mismatch (first
// differing offset and the seed are printed), 2 usage or I/O error.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/fs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "stress/discard_model.h"

namespace {

using cowmodel::Range;

struct Options {
	std::string dut, ref;
	uint64_t seed = 1;
	uint64_t ops = 2000;
	unsigned threads = 4;
	uint64_t max_io = 1 << 20;
	uint64_t size = 0;  // 0: the smaller device size
	unsigned checkpoints = 4;
	unsigned direct_pct = 50;
	unsigned write_pct = 60;
	uint64_t hot = 0;		// 0: the whole device; else this many chunks
	uint64_t chunk = 65536;		// chunk size for --hot
	uint64_t lock_unit = 1 << 20;	// granularity of the range locks
	unsigned dsync_pct = 0;		// share of direct writes sent RWF_DSYNC
	unsigned fsync_pct = 0;		// share of ops that are an fdatasync
	// Discard and write-zeroes (none unless --discard or --zeroes).
	std::string origin;		// the array's origin, "none": zeros
	uint64_t sub = ~uint64_t(0);	// sub-chunk bytes; default: format 2's
	unsigned discard_pct = 0;	// share of ops that are a BLKDISCARD
	unsigned zeroes_pct = 0;	// share of ops that zero a range
	std::string zero_chunks;	// file: zero chunks at start and end
	bool trims() const { return discard_pct || zeroes_pct; }
};

[[noreturn]] void usage(int code)
{
	std::fprintf(code ? stderr : stdout,
		"usage: cow-stress --dut DEV --ref DEV [options]\n"
		"  --seed N         random seed (default 1)\n"
		"  --ops N          operations in total (default 2000)\n"
		"  --threads N      worker threads (default 4)\n"
		"  --max-io BYTES   largest I/O (default 1048576, smallest 512)\n"
		"  --size BYTES     test only the first BYTES (default: whole device)\n"
		"  --checkpoints N  full compares during the run (default 4)\n"
		"  --direct PCT     share of O_DIRECT I/O (default 50)\n"
		"  --writes PCT     share of writes (default 60)\n"
		"  --hot N          all I/O inside N chunks spread over the device\n"
		"  --chunk BYTES    the array's chunk size, for --hot, --discard and\n"
		"                   --zeroes (default 65536)\n"
		"  --lock-unit BYTES  serialise I/O touching the same unit (default\n"
		"                   1048576; use 4096 to let threads share a chunk)\n"
		"  --dsync PCT      share of O_DIRECT writes sent with RWF_DSYNC (FUA)\n"
		"  --fsync PCT      share of ops that are an fdatasync (a flush)\n"
		"  --discard PCT    share of ops that are a BLKDISCARD of a random range\n"
		"                   (whole chunks, whole sub-chunks, or any 512 B\n"
		"                   multiple); needs --origin\n"
		"  --zeroes PCT     share of ops that zero a random range, half with\n"
		"                   fallocate PUNCH_HOLE (may unmap), half BLKZEROOUT\n"
		"  --origin DEV|none  the array's origin: what a discard brings back\n"
		"                   (none: zeros)\n"
		"  --sub BYTES      sub-chunk size, 0 = none (default: format 2's,\n"
		"                   chunk / 16 from 8 KiB chunks up, else none)\n"
		"  --zero-chunks FILE  zero chunks the array has at the start (read if\n"
		"                   FILE exists: chunk numbers, one a line) and, after\n"
		"                   a run without mismatch, at the end (written)\n"
		"  --discard and --zeroes are shares of the ops that are not flushes;\n"
		"  without them the ops of a seed are the same as before they existed.\n"
		"Exit: 0 identical, 1 mismatch, 2 usage or I/O error.\n");
	std::exit(code);
}

[[noreturn]] void die(const char *what, const std::string &arg)
{
	std::fprintf(stderr, "cow-stress: %s %s: %s\n", what, arg.c_str(), std::strerror(errno));
	std::exit(2);
}

uint64_t dev_size(int fd, const std::string &path)
{
	uint64_t sz = 0;
	if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			die("cannot size", path);
		sz = static_cast<uint64_t>(end);
	}
	return sz;
}

// One open file pair (direct and buffered) per device.
struct Dev {
	std::string path;
	int fd_buf = -1, fd_direct = -1;
	void open_dev(const std::string &p)
	{
		path = p;
		fd_buf = ::open(p.c_str(), O_RDWR);
		fd_direct = ::open(p.c_str(), O_RDWR | O_DIRECT);
		if (fd_buf < 0 || fd_direct < 0)
			die("cannot open", p);
	}
	void pwrite_all(bool direct, const uint8_t *buf, uint64_t len, uint64_t off,
			bool dsync = false) const
	{
		int fd = direct ? fd_direct : fd_buf;
		while (len) {
			struct iovec iov = { const_cast<uint8_t *>(buf), static_cast<size_t>(len) };
			ssize_t n = ::pwritev2(fd, &iov, 1, static_cast<off_t>(off),
					       dsync ? RWF_DSYNC : 0);
			if (n <= 0)
				die("write failed on", path + " at " + std::to_string(off));
			buf += n, len -= static_cast<uint64_t>(n), off += static_cast<uint64_t>(n);
		}
	}
	void pread_all(bool direct, uint8_t *buf, uint64_t len, uint64_t off) const
	{
		int fd = direct ? fd_direct : fd_buf;
		while (len) {
			ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
			if (n <= 0)
				die("read failed on", path + " at " + std::to_string(off));
			buf += n, len -= static_cast<uint64_t>(n), off += static_cast<uint64_t>(n);
		}
	}
	void sync() const
	{
		if (::fsync(fd_buf) < 0 || ::fsync(fd_direct) < 0)
			die("fsync failed on", path);
	}
};

struct AlignedBuf {
	uint8_t *p = nullptr;
	explicit AlignedBuf(size_t n)
	{
		if (posix_memalign(reinterpret_cast<void **>(&p), 4096, n))
			throw std::bad_alloc();
	}
	~AlignedBuf() { std::free(p); }
	AlignedBuf(const AlignedBuf &) = delete;
	AlignedBuf &operator=(const AlignedBuf &) = delete;
};

class Runner {
public:
	explicit Runner(const Options &o) : opt_(o)
	{
		dut_.open_dev(o.dut);
		ref_.open_dev(o.ref);
		uint64_t a = dev_size(dut_.fd_buf, o.dut), b = dev_size(ref_.fd_buf, o.ref);
		size_ = o.size ? o.size : std::min(a, b);
		if (size_ > a || size_ > b || size_ < 4096) {
			std::fprintf(stderr, "cow-stress: bad size %" PRIu64 " (devices: %" PRIu64 ", %" PRIu64 ")\n",
				     size_, a, b);
			std::exit(2);
		}
		size_ &= ~uint64_t(511);
		if (o.hot && (o.chunk < 4096 || o.chunk & (o.chunk - 1) ||
			      o.hot * o.chunk > size_)) {
			std::fprintf(stderr, "cow-stress: --hot %" PRIu64 " chunks of %" PRIu64
				     " bytes do not fit\n", o.hot, o.chunk);
			std::exit(2);
		}
		locks_ = std::vector<std::mutex>((size_ + opt_.lock_unit - 1) / opt_.lock_unit);
		if (o.trims())
			setup_trims(a);
	}

	int run()
	{
		uint64_t per_phase = opt_.ops / (opt_.checkpoints + 1) + 1;
		uint64_t done = 0;
		for (unsigned phase = 0; done < opt_.ops; phase++) {
			uint64_t n = std::min(per_phase, opt_.ops - done);
			std::vector<std::thread> workers;
			next_op_ = done;
			end_op_ = done + n;
			for (unsigned t = 0; t < opt_.threads; t++)
				workers.emplace_back([this] { worker(); });
			for (auto &w : workers)
				w.join();
			done += n;
			if (mismatch_)
				return report();
			if (!compare_all(phase))
				return report();
		}
		if (!opt_.ops && !compare_all(0))
			return report();
		if (opt_.trims()) {
			save_zero_chunks();
			std::printf("cow-stress: seed %" PRIu64 ": %" PRIu64 " ops (%" PRIu64 " writes, %" PRIu64
				    " of them FUA, %" PRIu64 " reads, %" PRIu64 " flushes, %" PRIu64
				    " discards, %" PRIu64 " punch-hole and %" PRIu64 " BLKZEROOUT zeroings), %" PRIu64
				    " MiB written, %" PRIu64 " KiB discarded (%" PRIu64 " KiB of it back to the origin), %"
				    PRIu64 " KiB zeroed, %" PRIu64 " zero chunks at the end, devices identical\n",
				    opt_.seed, opt_.ops, writes_.load(), fua_.load(), reads_.load(),
				    flushes_.load(), discards_.load(), punches_.load(), zeroouts_.load(),
				    bytes_.load() >> 20, discarded_.load() >> 10, to_origin_.load() >> 10,
				    zeroed_.load() >> 10, zero_chunk_count());
		} else {
			std::printf("cow-stress: seed %" PRIu64 ": %" PRIu64 " ops (%" PRIu64 " writes, %" PRIu64
				    " of them FUA, %" PRIu64 " reads, %" PRIu64 " flushes), %" PRIu64
				    " MiB written, devices identical\n",
				    opt_.seed, opt_.ops, writes_.load(), fua_.load(), reads_.load(),
				    flushes_.load(), bytes_.load() >> 20);
		}
		if (std::fflush(stdout) || std::ferror(stdout))
			return 2;
		return 0;
	}

private:
	int report()
	{
		std::fprintf(stderr, "cow-stress: MISMATCH at byte %" PRIu64 " (%s); reproduce with --seed %" PRIu64 "\n",
			     mismatch_off_.load(), what_.c_str(), opt_.seed);
		if (opt_.trims())
			report_trims(mismatch_off_.load());
		return 1;
	}

	// ---- discard and write-zeroes ----

	enum class Trim { discard, punch_hole, zeroout };

	void setup_trims(uint64_t dut_size)
	{
		const Options &o = opt_;
		// Whole chunks are locked and their pages dropped: chunks are
		// at least a page.
		if (o.chunk < 4096 || o.chunk & (o.chunk - 1)) {
			std::fprintf(stderr, "cow-stress: --chunk %" PRIu64 ": a power of two >= 4096 for --discard/--zeroes\n",
				     o.chunk);
			std::exit(2);
		}
		geo_.chunk = o.chunk;
		geo_.sub = o.sub == ~uint64_t(0) ? cowmodel::format2_subchunk(o.chunk) : o.sub;
		// The array's own end, not --size's: a chunk is short only there.
		geo_.size = dut_size;
		if (!geo_.valid()) {
			std::fprintf(stderr, "cow-stress: --sub %" PRIu64 ": 0 or a power of two from 512 to --chunk\n",
				     geo_.sub);
			std::exit(2);
		}
		if (o.discard_pct && o.origin.empty()) {
			std::fprintf(stderr, "cow-stress: --discard needs --origin DEV|none\n");
			std::exit(2);
		}
		if (!o.origin.empty() && o.origin != "none") {
			origin_fd_ = ::open(o.origin.c_str(), O_RDONLY);
			if (origin_fd_ < 0)
				die("cannot open", o.origin);
			origin_size_ = dev_size(origin_fd_, o.origin);
		}
		zero_ = std::vector<std::atomic<uint8_t>>(geo_.chunks());
		for (auto &z : zero_)
			z = 0;
		load_zero_chunks();
		// Buffered reads bring in no pages beyond their own (readahead):
		// a page read ahead while a discard is under way could keep
		// what the chunk held before it.
		if (posix_fadvise(dut_.fd_buf, 0, 0, POSIX_FADV_RANDOM))
			die("posix_fadvise failed on", dut_.path);
	}

	void load_zero_chunks()
	{
		if (opt_.zero_chunks.empty())
			return;
		std::ifstream in(opt_.zero_chunks);
		if (!in)
			return;	// no file yet: no zero chunks
		uint64_t c;
		while (in >> c) {
			if (c >= zero_.size()) {
				std::fprintf(stderr, "cow-stress: %s: chunk %" PRIu64 " is past the end\n",
					     opt_.zero_chunks.c_str(), c);
				std::exit(2);
			}
			zero_[c] = 1;
		}
		if (!in.eof()) {
			std::fprintf(stderr, "cow-stress: %s: not a list of chunk numbers\n", opt_.zero_chunks.c_str());
			std::exit(2);
		}
	}

	void save_zero_chunks()
	{
		if (opt_.zero_chunks.empty())
			return;
		FILE *f = std::fopen(opt_.zero_chunks.c_str(), "w");
		if (!f)
			die("cannot write", opt_.zero_chunks);
		for (uint64_t c = 0; c < zero_.size(); c++)
			if (zero_[c])
				std::fprintf(f, "%" PRIu64 "\n", c);
		if (std::fclose(f))
			die("cannot write", opt_.zero_chunks);
	}

	uint64_t zero_chunk_count() const
	{
		uint64_t n = 0;
		for (const auto &z : zero_)
			n += z.load();
		return n;
	}

	void set_zero_flags(cowmodel::Op op, uint64_t a, uint64_t b)
	{
		cowmodel::zero_flag_changes(geo_, op, a, b, [this](uint64_t c, bool z) { zero_[c] = z; });
	}

	// A random range [a, b) inside [lo, hi) (both multiples of 512, lo of
	// the chunk size): whole chunks (up to --max-io of them, at least
	// one), whole sub-chunks (4 KiB units without sub-chunks; up to two
	// chunks' worth) or any multiple of 512 B at any 512 B offset.
	std::pair<uint64_t, uint64_t> pick_range(std::mt19937_64 &rng, uint64_t lo, uint64_t hi)
	{
		const uint64_t c = geo_.chunk, unit = geo_.sub ? geo_.sub : 4096, span = hi - lo;
		switch (rng() % 3) {
		case 0: {
			uint64_t first = lo / c, n_area = (hi - first * c + c - 1) / c;
			uint64_t n = 1 + rng() % std::min(n_area, std::max<uint64_t>(1, opt_.max_io / c));
			uint64_t s = first + rng() % (n_area - n + 1);
			return {s * c, std::min((s + n) * c, hi)};
		}
		case 1: {
			uint64_t units = span / unit;
			if (!units)
				break;
			uint64_t n = 1 + rng() % std::min(units, 2 * c / unit);
			uint64_t s = lo / unit + rng() % (units - n + 1);
			return {s * unit, std::min((s + n) * unit, hi)};
		}
		default:
			break;
		}
		uint64_t max = std::min(opt_.max_io, span);
		uint64_t len = 512ULL << (rng() % 12);
		len = std::min(len + (rng() % len), max);
		len = std::max<uint64_t>(len / 512 * 512, 512);
		uint64_t off = lo + (rng() % (span - len + 1)) / 512 * 512;
		return {off, off + len};
	}

	// The origin's bytes [off, off + len), zeros past its end or without one.
	void read_origin(uint8_t *buf, uint64_t len, uint64_t off) const
	{
		std::memset(buf, 0, len);
		if (origin_fd_ < 0 || off >= origin_size_)
			return;
		len = std::min(len, origin_size_ - off);
		while (len) {
			ssize_t n = ::pread(origin_fd_, buf, len, static_cast<off_t>(off));
			if (n < 0)
				die("read failed on", opt_.origin + " at " + std::to_string(off));
			if (n == 0)
				break;
			buf += n, len -= static_cast<uint64_t>(n), off += static_cast<uint64_t>(n);
		}
	}

	// The reference gets [r.off, r.end()) from the origin, or zeros.
	void ref_fill(const Range &r, bool from_origin, AlignedBuf &buf)
	{
		if (!from_origin)
			std::memset(buf.p, 0, opt_.max_io);
		for (uint64_t off = r.off; off < r.end();) {
			uint64_t n = std::min(opt_.max_io, r.end() - off);
			if (from_origin)
				read_origin(buf.p, n, off);
			ref_.pwrite_all(true, buf.p, n, off);
			off += n;
		}
	}

	[[noreturn]] void op_failed(const char *what, uint64_t a, uint64_t b) const
	{
		int e = errno;
		std::fprintf(stderr, "cow-stress: %s of [%" PRIu64 ", %" PRIu64 ") failed on %s: %s\n", what, a, b,
			     dut_.path.c_str(), std::strerror(e));
		std::exit(2);
	}

	void trim(std::mt19937_64 &rng, Trim kind, uint64_t op, uint64_t lo, uint64_t hi, AlignedBuf &buf)
	{
		auto [a, b] = pick_range(rng, lo, hi);
		// What a discard does to part of a chunk depends on whether it is a
		// zero chunk, which any write to the chunk changes: lock all of
		// every chunk touched (unit locks are taken in ascending order, as
		// everywhere).
		Range hull = cowmodel::chunk_hull(geo_, a, b);
		uint64_t loff = hull.off, llen = std::min(hull.end(), size_) - hull.off;
		lock_range(loff, llen);
		// Dirty pages of these chunks reach the array first: the kernel
		// drops cached pages of the range (a discard would lose those it
		// then ignores), and a write still in the cache has not yet ended
		// its chunk's zero state.
		if (::sync_file_range(dut_.fd_buf, static_cast<off_t>(loff), static_cast<off_t>(llen),
				      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				      SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			die("sync_file_range failed on", dut_.path);
		uint64_t range[2] = {a, b - a};
		std::string what;
		if (kind == Trim::discard) {
			auto back = cowmodel::discard_to_origin(geo_, a, b, [this](uint64_t c) { return zero_[c] != 0; });
			if (::ioctl(dut_.fd_direct, BLKDISCARD, range) < 0)
				op_failed("BLKDISCARD", a, b);
			uint64_t n = 0;
			for (const Range &r : back) {
				ref_fill(r, true, buf);
				n += r.len;
			}
			set_zero_flags(cowmodel::Op::discard, a, b);
			discards_++;
			discarded_ += b - a;
			to_origin_ += n;
			what = "discard (" + std::to_string(n) + " bytes back to the origin)";
		} else {
			if (kind == Trim::punch_hole) {
				if (::fallocate(dut_.fd_buf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						static_cast<off_t>(a), static_cast<off_t>(b - a)) < 0)
					op_failed("fallocate(PUNCH_HOLE)", a, b);
				punches_++;
				what = "punch-hole";
			} else {
				if (::ioctl(dut_.fd_direct, BLKZEROOUT, range) < 0)
					op_failed("BLKZEROOUT", a, b);
				zeroouts_++;
				what = "BLKZEROOUT";
			}
			ref_fill({a, b - a}, false, buf);
			set_zero_flags(kind == Trim::punch_hole ? cowmodel::Op::punch_hole : cowmodel::Op::zeroout, a, b);
			zeroed_ += b - a;
		}
		// The kernel zeroed the cached parts of pages the range covers in
		// part (it truncates the range in the page cache): drop the
		// (clean) pages, reads fetch them from the array again.
		if (::posix_fadvise(dut_.fd_buf, static_cast<off_t>(loff), static_cast<off_t>(llen),
				    POSIX_FADV_DONTNEED))
			die("posix_fadvise failed on", dut_.path);
		{
			std::lock_guard<std::mutex> g(trim_log_lock_);
			trim_log_.push_back({op, a, b, what});
		}
		unlock_range(loff, llen);
	}

	// After a mismatch: the discards and zeroings of the chunk it is in.
	void report_trims(uint64_t off)
	{
		std::lock_guard<std::mutex> g(trim_log_lock_);
		Range c = cowmodel::chunk_hull(geo_, off, off + 1);
		unsigned shown = 0;
		for (auto it = trim_log_.rbegin(); it != trim_log_.rend() && shown < 20; ++it)
			if (it->a < c.end() && it->b > c.off) {
				std::fprintf(stderr, "cow-stress:   op %" PRIu64 ": %s of [%" PRIu64 ", %" PRIu64 ")\n",
					     it->op, it->what.c_str(), it->a, it->b);
				shown++;
			}
		std::fprintf(stderr, "cow-stress: chunk %" PRIu64 " (%" PRIu64 " bytes, sub-chunks of %" PRIu64
			     "): %u discards or zeroings touched it (newest first above); zero chunk now: %s\n",
			     off / geo_.chunk, geo_.chunk, geo_.sub, shown,
			     off / geo_.chunk < zero_.size() && zero_[off / geo_.chunk] ? "yes" : "no");
	}

	void lock_range(uint64_t off, uint64_t len)
	{
		for (uint64_t s = off / opt_.lock_unit; s <= (off + len - 1) / opt_.lock_unit; s++)
			locks_[s].lock();
	}
	void unlock_range(uint64_t off, uint64_t len)
	{
		for (uint64_t s = off / opt_.lock_unit; s <= (off + len - 1) / opt_.lock_unit; s++)
			locks_[s].unlock();
	}

	void note_mismatch(uint64_t off, const std::string &what)
	{
		std::lock_guard<std::mutex> g(report_lock_);
		if (!mismatch_) {
			mismatch_off_ = off;
			what_ = what;
			mismatch_ = true;
		}
	}

	void worker()
	{
		AlignedBuf a(opt_.max_io), b(opt_.max_io);
		for (;;) {
			uint64_t op = next_op_++;
			if (op >= end_op_ || mismatch_)
				return;
			// Each op has its own generator: the run is reproducible from the seed
			// whatever the thread interleaving.
			std::mt19937_64 rng(opt_.seed * 0x9e3779b97f4a7c15ULL + op);
			if (rng() % 100 < opt_.fsync_pct) {
				if (::fdatasync(dut_.fd_direct) < 0)
					die("fdatasync failed on", dut_.path);
				flushes_++;
				continue;
			}
			// Without --discard/--zeroes no draw here: the same seed gives
			// the same ops as before they existed.
			if (opt_.trims()) {
				uint64_t r = rng() % 100;
				if (r < opt_.discard_pct + opt_.zeroes_pct) {
					Trim kind = r < opt_.discard_pct ? Trim::discard
						    : rng() % 2 ? Trim::punch_hole : Trim::zeroout;
					uint64_t lo = 0, hi = size_;
					if (opt_.hot) {
						lo = (size_ / opt_.hot * (rng() % opt_.hot)) & ~(opt_.chunk - 1);
						hi = lo + opt_.chunk;
					}
					trim(rng, kind, op, lo, hi, b);
					continue;
				}
			}
			bool direct = rng() % 100 < opt_.direct_pct;
			bool write = rng() % 100 < opt_.write_pct;
			bool dsync = direct && write && rng() % 100 < opt_.dsync_pct;
			uint64_t unit = direct ? 512 : 1;
			uint64_t max = std::min(opt_.max_io, size_);
			uint64_t base = 0, span = size_;
			if (opt_.hot) {
				// One of the hot chunks, spread evenly over the device.
				uint64_t h = rng() % opt_.hot;
				base = (size_ / opt_.hot * h) & ~(opt_.chunk - 1);
				span = opt_.chunk;
				max = std::min(max, span);
			}
			// Lengths skewed towards small I/O, up to max.
			uint64_t len = 512ULL << (rng() % 12);
			len = std::min(len + (rng() % len), max);
			len = std::max<uint64_t>(len / unit * unit, 512);
			uint64_t off = base + (rng() % (span - len + 1)) / unit * unit;
			// Buffered I/O works on whole pages: lock them all, or a direct
			// write to another sector of the page would collide with it in
			// the page cache (the kernel then fails the direct write's
			// invalidation and later fsyncs).
			uint64_t loff = off, llen = len;
			if (!direct) {
				loff = off & ~uint64_t(4095);
				llen = std::min((off + len + 4095) & ~uint64_t(4095), size_) - loff;
			}
			lock_range(loff, llen);
			if (write) {
				for (uint64_t i = 0; i < len; i += 8) {
					uint64_t v = rng();
					std::memcpy(a.p + i, &v, std::min<uint64_t>(8, len - i));
				}
				dut_.pwrite_all(direct, a.p, len, off, dsync);
				ref_.pwrite_all(direct, a.p, len, off);
				if (opt_.trims())
					set_zero_flags(cowmodel::Op::write, off, off + len);
				writes_++;
				fua_ += dsync;
				bytes_ += len;
			} else {
				dut_.pread_all(direct, a.p, len, off);
				ref_.pread_all(direct, b.p, len, off);
				reads_++;
				if (std::memcmp(a.p, b.p, len)) {
					uint64_t i = 0;
					while (a.p[i] == b.p[i])
						i++;
					note_mismatch(off + i, std::string("read back during the run, op ") +
								       std::to_string(op));
				}
			}
			unlock_range(loff, llen);
		}
	}

	bool compare_all(unsigned phase)
	{
		dut_.sync();
		ref_.sync();
		const uint64_t step = 1 << 20;
		AlignedBuf a(step), b(step);
		for (uint64_t off = 0; off < size_; off += step) {
			uint64_t n = std::min(step, size_ - off);
			dut_.pread_all(true, a.p, n, off);
			ref_.pread_all(true, b.p, n, off);
			if (std::memcmp(a.p, b.p, n)) {
				uint64_t i = 0;
				while (a.p[i] == b.p[i])
					i++;
				note_mismatch(off + i, "full compare at checkpoint " + std::to_string(phase));
				return false;
			}
		}
		std::printf("cow-stress: checkpoint %u: identical\n", phase);
		std::fflush(stdout);
		return true;
	}

	Options opt_;
	Dev dut_, ref_;
	uint64_t size_ = 0;
	std::vector<std::mutex> locks_;
	std::atomic<uint64_t> next_op_{0}, end_op_{0};
	std::atomic<uint64_t> writes_{0}, reads_{0}, bytes_{0}, fua_{0}, flushes_{0};
	// --discard/--zeroes: the array's geometry, its origin, which chunks are
	// zero chunks (changed under the locks of the whole chunk, or by a write
	// under the lock of part of it: writes only ever clear), counts, and
	// what was done, for a mismatch report.
	cowmodel::Geometry geo_;
	int origin_fd_ = -1;
	uint64_t origin_size_ = 0;
	std::vector<std::atomic<uint8_t>> zero_;
	std::atomic<uint64_t> discards_{0}, punches_{0}, zeroouts_{0}, discarded_{0}, to_origin_{0}, zeroed_{0};
	struct TrimDone {
		uint64_t op, a, b;
		std::string what;
	};
	std::mutex trim_log_lock_;
	std::vector<TrimDone> trim_log_;
	std::atomic<bool> mismatch_{false};
	std::atomic<uint64_t> mismatch_off_{0};
	std::mutex report_lock_;
	std::string what_;
};

uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = std::strtoull(s, &end, 0);
	if (errno || *end || end == s)
		usage(2);
	return v;
}

}  // namespace

int main(int argc, char **argv)
{
	Options o;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		auto val = [&]() -> const char * {
			if (i + 1 >= argc)
				usage(2);
			return argv[++i];
		};
		if (a == "--dut") o.dut = val();
		else if (a == "--ref") o.ref = val();
		else if (a == "--seed") o.seed = num(val());
		else if (a == "--ops") o.ops = num(val());
		else if (a == "--threads") o.threads = static_cast<unsigned>(num(val()));
		else if (a == "--max-io") o.max_io = num(val());
		else if (a == "--size") o.size = num(val());
		else if (a == "--checkpoints") o.checkpoints = static_cast<unsigned>(num(val()));
		else if (a == "--direct") o.direct_pct = static_cast<unsigned>(num(val()));
		else if (a == "--writes") o.write_pct = static_cast<unsigned>(num(val()));
		else if (a == "--hot") o.hot = num(val());
		else if (a == "--chunk") o.chunk = num(val());
		else if (a == "--lock-unit") o.lock_unit = num(val());
		else if (a == "--dsync") o.dsync_pct = static_cast<unsigned>(num(val()));
		else if (a == "--fsync") o.fsync_pct = static_cast<unsigned>(num(val()));
		else if (a == "--discard") o.discard_pct = static_cast<unsigned>(num(val()));
		else if (a == "--zeroes") o.zeroes_pct = static_cast<unsigned>(num(val()));
		else if (a == "--origin") o.origin = val();
		else if (a == "--sub") o.sub = num(val());
		else if (a == "--zero-chunks") o.zero_chunks = val();
		else if (a == "--help" || a == "-h") usage(0);
		else usage(2);
	}
	if (o.dut.empty() || o.ref.empty() || o.threads < 1 || o.max_io < 512 || o.max_io % 512 ||
	    o.lock_unit < 512 || o.lock_unit & (o.lock_unit - 1) || o.discard_pct + o.zeroes_pct > 100)
		usage(2);
	Runner r(o);
	return r.run();
}
