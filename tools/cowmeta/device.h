// device.h - byte-addressed storage: block devices, image files, memory.
#ifndef COWMETA_DEVICE_H
#define COWMETA_DEVICE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cowmeta {

class block_device {
public:
	virtual ~block_device() = default;
	virtual uint64_t size() const = 0;	// bytes
	// Exact reads and writes: false on an I/O error or past the end.
	virtual bool read(void *buf, size_t len, uint64_t off) = 0;
	virtual bool write(const void *buf, size_t len, uint64_t off) = 0;
	virtual bool flush() = 0;
	virtual const std::string &name() const = 0;
};

// A block device or a regular file.
//
// A block device is read and written with O_DIRECT, through an aligned
// bounce buffer (read-modify-write for a partial logical block), so that
// what is read is what is on the device, never a stale page cache.
class file_device : public block_device {
public:
	// How to open.  A block device is opened exclusively (O_EXCL), which
	// fails while it is a member of a running array or mounted: for
	// writing that is always refused, for reading only unless
	// @allow_busy (then busy() is true).
	struct mode {
		bool writable = false;
		bool allow_busy = false;
	};
	// nullptr and @err set on failure.
	static std::unique_ptr<file_device> open(const std::string &path, const mode &m,
						 std::string &err);
	bool busy() const { return busy_; }
	bool direct() const { return align_ != 0; }
	~file_device() override;
	uint64_t size() const override { return size_; }
	bool read(void *buf, size_t len, uint64_t off) override;
	bool write(const void *buf, size_t len, uint64_t off) override;
	bool flush() override;
	const std::string &name() const override { return path_; }
	// dev_t of the block device (0 for a regular file).
	uint64_t rdev() const { return rdev_; }

private:
	file_device(int fd, std::string path, uint64_t size, uint64_t rdev)
		: fd_(fd), path_(std::move(path)), size_(size), rdev_(rdev) {}
	bool direct_io(uint8_t *buf, const uint8_t *wbuf, size_t len, uint64_t off);
	int fd_;
	bool busy_ = false;
	size_t align_ = 0;		// O_DIRECT: logical block size
	uint8_t *bounce_ = nullptr;	// O_DIRECT: aligned buffer of kBounce bytes
	std::string path_;
	uint64_t size_;
	uint64_t rdev_;
};

// An image in memory (tests, fuzzing).
class memory_device : public block_device {
public:
	explicit memory_device(uint64_t size, std::string name = "memory")
		: data_(size), name_(std::move(name)) {}
	uint64_t size() const override { return data_.size(); }
	bool read(void *buf, size_t len, uint64_t off) override;
	bool write(const void *buf, size_t len, uint64_t off) override;
	bool flush() override { return true; }
	const std::string &name() const override { return name_; }
	std::vector<uint8_t> &bytes() { return data_; }

private:
	std::vector<uint8_t> data_;
	std::string name_;
};

}  // namespace cowmeta

#endif
