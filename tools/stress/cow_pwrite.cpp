// cow-pwrite: one O_DIRECT write with pwritev2() flags, for tests that need
// what dd cannot ask for (RWF_NOWAIT, RWF_DSYNC).
//
// Usage: cow-pwrite [--nowait] [--dsync] DEVICE OFFSET LENGTH BYTE
// Writes LENGTH bytes of value BYTE (0-255) at OFFSET (both multiples of
// 4096).  Exit status: 0 written, 3 EAGAIN (the device would have had to
// wait), 1 any other error (named on stderr), 2 usage.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int usage()
{
	std::fprintf(stderr, "usage: cow-pwrite [--nowait] [--dsync] DEVICE OFFSET LENGTH BYTE\n");
	return 2;
}

bool parse_u64(const char *s, unsigned long long *v)
{
	char *end = nullptr;

	errno = 0;
	*v = std::strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0';
}

}  // namespace

int main(int argc, char **argv)
{
	int flags = 0, i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!std::strcmp(argv[i], "--nowait"))
			flags |= RWF_NOWAIT;
		else if (!std::strcmp(argv[i], "--dsync"))
			flags |= RWF_DSYNC;
		else {
			std::fprintf(stderr, "cow-pwrite: unknown option %s\n", argv[i]);
			return usage();
		}
	}
	if (argc - i != 4)
		return usage();
	unsigned long long off, len, byte;
	if (!parse_u64(argv[i + 1], &off) || !parse_u64(argv[i + 2], &len) ||
	    !parse_u64(argv[i + 3], &byte) || byte > 255 || !len ||
	    off % 4096 || len % 4096) {
		std::fprintf(stderr, "cow-pwrite: OFFSET and LENGTH must be multiples of 4096, BYTE 0-255\n");
		return usage();
	}
	int fd = open(argv[i], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		std::fprintf(stderr, "cow-pwrite: %s: %s\n", argv[i], std::strerror(errno));
		return 1;
	}
	void *buf = nullptr;
	if (posix_memalign(&buf, 4096, len)) {
		std::fprintf(stderr, "cow-pwrite: out of memory\n");
		return 1;
	}
	std::memset(buf, static_cast<int>(byte), len);
	struct iovec iov = { buf, static_cast<size_t>(len) };
	ssize_t n = pwritev2(fd, &iov, 1, static_cast<off_t>(off), flags);
	int err = errno;
	std::free(buf);
	if (close(fd) && n >= 0) {
		std::fprintf(stderr, "cow-pwrite: close: %s\n", std::strerror(errno));
		return 1;
	}
	if (n < 0 && err == EAGAIN) {
		std::printf("EAGAIN\n");
		return 3;
	}
	if (n < 0) {
		std::fprintf(stderr, "cow-pwrite: write: %s\n", std::strerror(err));
		return 1;
	}
	if (static_cast<unsigned long long>(n) != len) {
		std::fprintf(stderr, "cow-pwrite: short write (%zd of %llu bytes)\n", n, len);
		return 1;
	}
	if (std::fflush(stdout) || std::ferror(stdout))
		return 1;
	return 0;
}
