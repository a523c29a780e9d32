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
// different blocks of them; --dsync and --fsync add FUA writes and flushes.  Exit status: 0 identical,
// 1 mismatch (first differing offset and the seed are printed), 2 usage or
// I/O error.
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
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

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
		"  --chunk BYTES    chunk size for --hot (default 65536)\n"
		"  --lock-unit BYTES  serialise I/O touching the same unit (default\n"
		"                   1048576; use 4096 to let threads share a chunk)\n"
		"  --dsync PCT      share of O_DIRECT writes sent with RWF_DSYNC (FUA)\n"
		"  --fsync PCT      share of ops that are an fdatasync (a flush)\n"
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
		std::printf("cow-stress: seed %" PRIu64 ": %" PRIu64 " ops (%" PRIu64 " writes, %" PRIu64
			    " of them FUA, %" PRIu64 " reads, %" PRIu64 " flushes), %" PRIu64
			    " MiB written, devices identical\n",
			    opt_.seed, opt_.ops, writes_.load(), fua_.load(), reads_.load(),
			    flushes_.load(), bytes_.load() >> 20);
		if (std::fflush(stdout) || std::ferror(stdout))
			return 2;
		return 0;
	}

private:
	int report()
	{
		std::fprintf(stderr, "cow-stress: MISMATCH at byte %" PRIu64 " (%s); reproduce with --seed %" PRIu64 "\n",
			     mismatch_off_.load(), what_.c_str(), opt_.seed);
		return 1;
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
		else if (a == "--help" || a == "-h") usage(0);
		else usage(2);
	}
	if (o.dut.empty() || o.ref.empty() || o.threads < 1 || o.max_io < 512 || o.max_io % 512 ||
	    o.lock_unit < 512 || o.lock_unit & (o.lock_unit - 1))
		usage(2);
	Runner r(o);
	return r.run();
}
