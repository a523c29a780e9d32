// device.cc - file and memory storage.
#include "cowmeta/device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cowmeta {

std::unique_ptr<file_device> file_device::open(const std::string &path,
					       bool writable, std::string &err)
{
	int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	struct stat st;
	uint64_t size = 0;
	bool busy = false;
	int fd;

	if (stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
		fd = ::open(path.c_str(), flags | O_EXCL);
		if (fd < 0 && errno == EBUSY) {
			if (writable) {
				err = path + " is in use (a member of a running array, or mounted?)";
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
	return d;
}

file_device::~file_device()
{
	::close(fd_);
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

bool file_device::read(void *buf, size_t len, uint64_t off)
{
	if (off > size_ || len > size_ - off)
		return false;
	return full_io(static_cast<uint8_t *>(buf), len, off,
		       [this](uint8_t *p, size_t n, off_t o) { return pread(fd_, p, n, o); });
}

bool file_device::write(const void *buf, size_t len, uint64_t off)
{
	if (off > size_ || len > size_ - off)
		return false;
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
