// device.cc - file and memory storage.
#include "cowmeta/device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>

namespace cowmeta {

namespace {

constexpr size_t kBounce = 1 << 20;

}  // namespace

std::unique_ptr<file_device> file_device::open(const std::string &path, const mode &m,
					       std::string &err)
{
	int flags = (m.writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	struct stat st;
	uint64_t size = 0;
	bool busy = false;
	int fd;

	if (stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
		flags |= O_DIRECT;
		fd = ::open(path.c_str(), flags | O_EXCL);
		if (fd < 0 && errno == EBUSY) {
			if (m.writable || !m.allow_busy) {
				err = path + " is in use (a member of a running array, or mounted?)" +
				      (m.writable ? "" : ": stop the array, or --live to read it anyway");
				return nullptr;
			}
			busy = true;
			fd = ::open(path.c_str(), flags);
		}
	} else {
		fd = ::open(path.c_str(), flags);
	}
	if (fd < 0) {
		err = "cannot open " + path + ": " + std::strerror(errno);
		return nullptr;
	}
	if (fstat(fd, &st) < 0) {
		err = "cannot stat " + path + ": " + std::strerror(errno);
		::close(fd);
		return nullptr;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			err = "cannot get the size of " + path + ": " + std::strerror(errno);
			::close(fd);
			return nullptr;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = static_cast<uint64_t>(st.st_size);
	} else {
		err = path + " is neither a block device nor a regular file";
		::close(fd);
		return nullptr;
	}
	std::unique_ptr<file_device> d(
		new file_device(fd, path, size, S_ISBLK(st.st_mode) ? st.st_rdev : 0));
	d->busy_ = busy;
	if (flags & O_DIRECT) {
		int lbs = 512;
		void *p;

		if (ioctl(fd, BLKSSZGET, &lbs) < 0 || lbs < 512 || lbs > 65536)
			lbs = 4096;
		if (posix_memalign(&p, 4096, kBounce)) {
			err = "out of memory";
			return nullptr;
		}
		d->align_ = static_cast<size_t>(lbs);
		d->bounce_ = static_cast<uint8_t *>(p);
	}
	return d;
}

file_device::~file_device()
{
	::close(fd_);
	free(bounce_);
}

namespace {

// pread/pwrite all of [off, off + len), retrying short transfers and EINTR.
template <typename Byte, typename Io>
bool full_io(Byte *p, size_t len, uint64_t off, Io io)
{
	while (len) {
		ssize_t n = io(p, len, static_cast<off_t>(off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		off += static_cast<uint64_t>(n);
		len -= static_cast<size_t>(n);
	}
	return true;
}

}  // namespace

// O_DIRECT I/O of [off, off + len) through the bounce buffer, one aligned
// piece at a time: @buf is read into, or (@wbuf) written from; a write
// of a partial logical block reads it first.
bool file_device::direct_io(uint8_t *buf, const uint8_t *wbuf, size_t len, uint64_t off)
{
	auto rd = [this](uint8_t *p, size_t n, off_t o) { return pread(fd_, p, n, o); };
	auto wr = [this](const uint8_t *p, size_t n, off_t o) { return pwrite(fd_, p, n, o); };

	while (len) {
		uint64_t start = off / align_ * align_;
		size_t head = static_cast<size_t>(off - start);
		size_t n = std::min(len, kBounce - head);
		size_t span = (head + n + align_ - 1) / align_ * align_;

		if (start + span > size_)
			return false;
		if (!wbuf || head || n % align_) {
			if (!full_io(bounce_, span, start, rd))
				return false;
		}
		if (wbuf) {
			std::memcpy(bounce_ + head, wbuf, n);
			if (!full_io(static_cast<const uint8_t *>(bounce_), span, start, wr))
				return false;
			wbuf += n;
		} else {
			std::memcpy(buf, bounce_ + head, n);
			buf += n;
		}
		off += n;
		len -= n;
	}
	return true;
}

bool file_device::read(void *buf, size_t len, uint64_t off)
{
	if (off > size_ || len > size_ - off)
		return false;
	if (align_)
		return direct_io(static_cast<uint8_t *>(buf), nullptr, len, off);
	return full_io(static_cast<uint8_t *>(buf), len, off,
		       [this](uint8_t *p, size_t n, off_t o) { return pread(fd_, p, n, o); });
}

bool file_device::write(const void *buf, size_t len, uint64_t off)
{
	if (off > size_ || len > size_ - off)
		return false;
	if (align_)
		return direct_io(nullptr, static_cast<const uint8_t *>(buf), len, off);
	return full_io(static_cast<const uint8_t *>(buf), len, off,
		       [this](const uint8_t *p, size_t n, off_t o) { return pwrite(fd_, p, n, o); });
}

bool file_device::flush()
{
	return fsync(fd_) == 0;
}

bool memory_device::read(void *buf, size_t len, uint64_t off)
{
	if (off > data_.size() || len > data_.size() - off)
		return false;
	std::memcpy(buf, data_.data() + off, len);
	return true;
}

bool memory_device::write(const void *buf, size_t len, uint64_t off)
{
	if (off > data_.size() || len > data_.size() - off)
		return false;
	std::memcpy(data_.data() + off, buf, len);
	return true;
}

}  // namespace cowmeta
