// image.cc - synthetic dirty devices: an independent model of mdadm's
// create and the kernel's commit protocol.
#include "image.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"
#include "cowmeta/handoff.h"

namespace cowtest {

void write_md_super(block_device &dev, const std::array<uint8_t, 16> &uuid,
		    uint32_t chunk_sectors, uint64_t data_offset, uint64_t data_size)
{
	block_buf b{};
	uint8_t *d = b.data();

	put_le32(d + 0, kMdSbMagic);
	put_le32(d + 4, 1);
	std::memcpy(d + 16, uuid.data(), 16);
	std::memcpy(d + 32, "test:cow", 8);
	put_le32(d + 72, 64);
	put_le64(d + 80, data_size);
	put_le32(d + 88, chunk_sectors);
	put_le32(d + 92, 1);
	put_le64(d + 128, data_offset);
	put_le64(d + 136, data_size);
	put_le64(d + 144, 8);
	put_le32(d + 220, 2);		// max_dev
	put_le32(d + 216, md_super_csum(d));
	dev.write(d, kBlockSize, kMdSb12Offset);
}

sim_array::sim_array(const sim_params &p)
{
	std::array<uint8_t, 16> uuid;
	uint64_t data_sectors = p.dirty_bytes / 512 - p.data_offset;
	block_buf b{};

	for (int i = 0; i < 16; i++)
		uuid[static_cast<size_t>(i)] = static_cast<uint8_t>(0x10 + i * 7);
	dev_ = std::make_unique<memory_device>(p.dirty_bytes, "sim");
	write_md_super(*dev_, uuid, p.chunk_sectors, p.data_offset, data_sectors);
	std::string err;
	if (!locate_data_area(*dev_, std::nullopt, layout_, err))
		throw std::runtime_error(err);
	area_ = std::make_unique<data_area>(*dev_, p.data_offset * 512, data_sectors / 8);

	chunk_blocks_ = p.chunk_sectors / 8;
	unit_slots_ = chunk_blocks_ >= 2 ? 1 : 2;
	unit_pairs_ = chunk_blocks_ >= 2 ? chunk_blocks_ / 2 : 1;
	uint64_t nr_chunks = (p.array_sectors + p.chunk_sectors - 1) / p.chunk_sectors;
	depth_ = p.depth ? p.depth : min_depth(nr_chunks);

	// mdadm's create (cow_write_init).
	sb_.flags = (p.no_origin ? kFlagNoOrigin : 0) | (p.cache ? kFlagCache : 0);
	sb_.incompat = (p.format2 ? kIncompatSubchunk : 0) | (p.clean ? kIncompatClean : 0);
	sb_.array_uuid = uuid;
	sb_.ctime = sb_.utime = 1700000000;
	sb_.array_sectors = p.array_sectors;
	sb_.chunk_sectors = p.chunk_sectors;
	if (!p.no_origin) {
		sb_.origin_sectors = p.array_sectors;
		sb_.origin_fp = 0x12345678;
		sb_.origin_fp_method = kFpMethodSamples16;
		sb_.set_locator("/dev/disk/by-id/virtio-origin");
	}
	sb_.data_start = std::max<uint64_t>(kMinDataStart, chunk_blocks_);
	sb_.dirty_blocks = data_sectors / 8;
	total_slots_ = (area_->blocks() - sb_.data_start) / chunk_blocks_;

	handoff h;
	h.array_uuid = uuid;
	h.origin_major = 254;
	h.origin_sectors = sb_.origin_sectors;
	h.utime = 1700000000;
	handoff_traits::pack(h, b);
	write_block(kHandoffBlock, b);
	superblock s = sb_;
	s.blocknr = kSbBlockB;
	s.seq = 0;
	superblock_traits::pack(s, b);
	write_block(kSbBlockB, b);
	s.blocknr = kSbBlockA;
	s.seq = 1;
	superblock_traits::pack(s, b);
	write_block(kSbBlockA, b);
	last_ = s;
}

block_buf sim_array::read(uint64_t blocknr)
{
	block_buf b;

	if (!area_->read_block(blocknr, b))
		throw std::runtime_error("sim: read beyond the device");
	return b;
}

void sim_array::write_block(uint64_t blocknr, const block_buf &b)
{
	if (!area_->write_block(blocknr, b))
		throw std::runtime_error("sim: write beyond the device");
}

uint64_t sim_array::alloc_pair()
{
	if (!meta_unit_ || meta_used_ >= unit_pairs_) {
		if (alloc_next_ + unit_slots_ > total_slots_)
			throw std::runtime_error("sim: no space for a metadata unit");
		meta_unit_ = slot_block(alloc_next_);
		alloc_next_ += unit_slots_;
		meta_blocks_ += static_cast<uint64_t>(unit_slots_) * chunk_blocks_;
		meta_used_ = 0;
	}
	return meta_unit_ + 2 * meta_used_++;
}

sim_array::snode &sim_array::get(unsigned level, uint64_t chunk)
{
	snode *parent = nullptr;

	for (unsigned l = depth_; l-- > level;) {
		uint64_t index = div_pow(chunk, l + 1);
		auto it = nodes_.find({l, index});

		if (it == nodes_.end()) {
			snode n;

			n.pair = alloc_pair();
			n.dirty = true;
			n.n.level = l;
			n.n.index = index;
			if (parent) {
				parent->n.entries[index % kNodeEntries] = ptr_make(n.pair, 0);
				parent->dirty = true;
			} else {
				root_ = n.pair;
			}
			it = nodes_.emplace(std::make_pair(l, index), n).first;
		}
		parent = &it->second;
	}
	return *parent;
}

// A slot for a new chunk: the lowest free one, else alloc_next, keeping
// room for the nodes the insert may need.
uint64_t sim_array::alloc_slot()
{
	uint64_t reserve = (depth_ + unit_pairs_ - 1) / unit_pairs_ * unit_slots_, slot;

	if (!free_.empty() && alloc_next_ + reserve <= total_slots_) {
		slot = *free_.begin();
		free_.erase(free_.begin());
	} else if (alloc_next_ + 1 + reserve > total_slots_) {
		throw std::runtime_error("sim: dirty device full");
	} else {
		slot = alloc_next_++;
	}
	return slot;
}

uint64_t sim_array::write(uint64_t chunk, uint16_t missing)
{
	uint64_t slot;
	block_buf b{};
	bool was_clean = clean_.erase(chunk) > 0;

	if (was_clean)
		unmap(chunk);	// a new slot, as a first write; the clean one is freed
	auto it = map_.find(chunk);
	bool was_zero = zero_.erase(chunk) > 0;

	if (was_zero)
		missing = 0;	// zeros and the data: the whole chunk
	if (it == map_.end())
		slot = alloc_slot();
	else
		slot = it->second;
	put_le64(b.data(), chunk + 1);
	put_le64(b.data() + 8, ++gen_);
	write_block(slot_block(slot), b);
	if (it != map_.end())
		missing &= missing_[chunk];
	if (it == map_.end() || missing != missing_[chunk]) {
		snode &leaf = get(0, chunk);

		leaf.n.entries[chunk % kNodeEntries] = (slot + 1) | static_cast<uint64_t>(missing) << 48;
		leaf.dirty = true;
		if (it == map_.end() && !was_zero && !was_clean)
			mapped_++;
		map_[chunk] = slot;
		missing_[chunk] = missing;
	}
	return slot;
}

uint64_t sim_array::promote(uint64_t chunk)
{
	block_buf b{};

	if (!(sb_.incompat & kIncompatClean))
		throw std::runtime_error("sim: clean chunks need the clean chunks feature");
	if (map_.count(chunk) || zero_.count(chunk))
		throw std::runtime_error("sim: only an unmapped chunk is promoted");
	uint64_t slot = alloc_slot();
	put_le64(b.data(), chunk + 1);
	write_block(slot_block(slot), b);
	set_leaf(chunk, leaf_make(slot, kLeafClean));
	mapped_++;
	map_[chunk] = slot;
	missing_[chunk] = 0;
	clean_.insert(chunk);
	return slot;
}

void sim_array::set_leaf(uint64_t chunk, uint64_t e)
{
	snode &leaf = get(0, chunk);

	leaf.n.entries[chunk % kNodeEntries] = e;
	leaf.dirty = true;
}

// Forget @chunk's slot, if it has one: free once the unmap is committed.
void sim_array::unmap(uint64_t chunk)
{
	auto it = map_.find(chunk);

	if (it == map_.end())
		return;
	freed_.push_back(it->second);
	map_.erase(it);
	missing_.erase(chunk);
}

void sim_array::zero(uint64_t chunk)
{
	if (!(sb_.incompat & kIncompatSubchunk))
		throw std::runtime_error("sim: zero chunks need format 2");
	if (zero_.count(chunk))
		return;
	if (!map_.count(chunk))
		mapped_++;
	unmap(chunk);
	clean_.erase(chunk);
	zero_.insert(chunk);
	set_leaf(chunk, kLeafZero);
}

void sim_array::discard(uint64_t chunk)
{
	if (!(sb_.incompat & kIncompatSubchunk))
		throw std::runtime_error("sim: discard needs format 2");
	if (!map_.count(chunk) && !zero_.count(chunk))
		return;
	mapped_--;
	unmap(chunk);
	clean_.erase(chunk);
	zero_.erase(chunk);
	set_leaf(chunk, 0);
}

uint64_t sim_array::leak_slot()
{
	return alloc_next_++;
}

void sim_array::commit(bool crash_before_sb)
{
	uint64_t seq = seq_ + 1;
	block_buf b;

	for (unsigned l = 0; l + 1 < depth_; l++)
		for (auto &kv : nodes_) {
			if (kv.first.first != l || !kv.second.dirty)
				continue;
			snode &p = nodes_.at({l + 1, kv.first.second / kNodeEntries});
			p.n.entries[kv.first.second % kNodeEntries] = ptr_make(kv.second.pair, seq);
			p.dirty = true;
		}
	auto root = nodes_.find({depth_ - 1, 0});
	if (root != nodes_.end() && root->second.dirty)
		root_seq_ = seq;
	for (auto &kv : nodes_) {
		snode &n = kv.second;

		if (!n.dirty)
			continue;
		n.n.blocknr = n.pair + (n.committed == 0 ? 1 : 0);
		n.n.seq = seq;
		node_traits::pack(n.n, b);
		write_block(n.n.blocknr, b);
	}
	if (crash_before_sb)
		return;

	superblock s = sb_;
	int other = !sb_copy_;
	s.blocknr = static_cast<uint64_t>(other);
	s.seq = seq;
	s.utime = 1700000000 + seq;
	s.dirty_blocks = slot_block(total_slots_);
	s.map_root = root_;
	s.map_root_seq = root_seq_;
	s.map_depth = depth_;
	s.meta_used = meta_used_;
	s.alloc_next = alloc_next_;
	s.mapped_chunks = mapped_;
	s.meta_blocks = meta_blocks_;
	s.meta_unit = meta_unit_;
	superblock_traits::pack(s, b);
	write_block(static_cast<uint64_t>(other), b);
	last_ = s;
	sb_copy_ = other;
	seq_ = seq;
	for (auto &kv : nodes_) {
		if (!kv.second.dirty)
			continue;
		kv.second.committed = kv.second.committed == 0 ? 1 : 0;
		kv.second.dirty = false;
	}
	committed_map_ = map_;
	committed_missing_ = missing_;
	committed_zero_ = zero_;
	committed_clean_ = clean_;
	// Slots unmapped by this commit may be handed out again.
	free_.insert(freed_.begin(), freed_.end());
	freed_.clear();
}

bool sim_array::is_zero(uint64_t chunk) const
{
	return committed_zero_.count(chunk) > 0;
}

bool sim_array::is_clean(uint64_t chunk) const
{
	return committed_clean_.count(chunk) > 0;
}

uint16_t sim_array::missing_of(uint64_t chunk) const
{
	auto it = committed_missing_.find(chunk);

	return it == committed_missing_.end() ? 0 : it->second;
}

uint64_t sim_array::slot_of(uint64_t chunk) const
{
	auto it = committed_map_.find(chunk);

	return it == committed_map_.end() ? UINT64_MAX : it->second;
}

uint64_t sim_array::node_pair(unsigned level, uint64_t index) const
{
	return nodes_.at({level, index}).pair;
}

int sim_array::node_copy(unsigned level, uint64_t index) const
{
	return nodes_.at({level, index}).committed;
}

// ---- crash states ----

bool write_log_device::write(const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = static_cast<const uint8_t *>(buf);

	if (!under_.write(buf, len, off))
		return false;
	log_.push_back({false, off, std::vector<uint8_t>(p, p + len)});
	return true;
}

bool write_log_device::flush()
{
	log_.push_back({true, 0, {}});
	return under_.flush();
}

size_t for_each_crash_state(const std::vector<uint8_t> &before,
			    const std::vector<write_log_device::op> &log,
			    const std::function<bool(memory_device &, const std::string &)> &visit)
{
	using op = write_log_device::op;
	memory_device img(before.size(), "crash");
	std::vector<const op *> durable, touched;
	size_t n = 0;

	img.bytes() = before;
	// Rebuild: back to @before where the last state wrote, then the
	// durable writes and @extra (in order), @torn: the last one only half.
	auto state = [&](const std::vector<const op *> &extra, bool torn, const std::string &what) {
		for (const op *o : touched)
			std::copy_n(before.begin() + static_cast<ptrdiff_t>(o->off), o->data.size(),
				    img.bytes().begin() + static_cast<ptrdiff_t>(o->off));
		touched = durable;
		touched.insert(touched.end(), extra.begin(), extra.end());
		for (size_t i = 0; i < touched.size(); i++) {
			const op *o = touched[i];
			size_t len = torn && i + 1 == touched.size() ? std::min<size_t>(o->data.size(), 2048) :
				     o->data.size();

			img.write(o->data.data(), len, o->off);
		}
		n++;
		return visit(img, what);
	};

	size_t i = 0;
	while (i <= log.size()) {
		std::vector<const op *> epoch;
		size_t start = i;

		for (; i < log.size() && !log[i].flush; i++)
			epoch.push_back(&log[i]);
		std::string at = "after op " + std::to_string(start) + " + ";
		for (size_t k = 0; k <= epoch.size(); k++) {
			std::vector<const op *> pre(epoch.begin(), epoch.begin() + static_cast<ptrdiff_t>(k));

			if (!state(pre, false, at + std::to_string(k) + " in order"))
				return n;
			if (k && !state(pre, true, at + std::to_string(k) + " in order, the last torn"))
				return n;
		}
		for (size_t k = 0; epoch.size() > 2 && k < epoch.size(); k++) {
			std::vector<const op *> one{epoch[k]}, but;

			for (size_t j = 0; j < epoch.size(); j++)
				if (j != k)
					but.push_back(epoch[j]);
			if (!state(one, false, at + "only write " + std::to_string(k)) ||
			    !state(but, false, at + "all but write " + std::to_string(k)))
				return n;
		}
		durable.insert(durable.end(), epoch.begin(), epoch.end());
		i++;	// the flush
	}
	return n;
}

// ---- temp files ----

namespace {

std::string make_temp()
{
	const char *dir = std::getenv("TMPDIR");
	std::string t = std::string(dir ? dir : "/tmp") + "/cowmeta-test-XXXXXX";
	std::vector<char> buf(t.begin(), t.end());
	int fd;

	buf.push_back('\0');
	fd = mkstemp(buf.data());
	if (fd < 0)
		throw std::runtime_error("mkstemp failed");
	close(fd);
	return buf.data();
}

}  // namespace

temp_file::temp_file() : path_(make_temp()) {}

temp_file::temp_file(const std::vector<uint8_t> &bytes) : path_(make_temp())
{
	std::ofstream f(path_, std::ios::binary);

	f.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

temp_file::temp_file(const std::string &text) : path_(make_temp())
{
	std::ofstream f(path_, std::ios::binary);

	f << text;
}

temp_file::~temp_file()
{
	unlink(path_.c_str());
}

std::vector<uint8_t> temp_file::bytes() const
{
	std::ifstream f(path_, std::ios::binary);

	return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string temp_file::text() const
{
	std::ifstream f(path_, std::ios::binary);
	std::ostringstream ss;

	ss << f.rdbuf();
	return ss.str();
}

}  // namespace cowtest
