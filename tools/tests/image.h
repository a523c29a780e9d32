// image.h - synthetic dirty devices for the unit tests.
//
// sim_array writes what mdadm and the kernel write: mdadm's md v1.2
// superblock and cow header at create, then the kernel's commit protocol
// (md-cow-metadata.c: slot allocation, node pairs taken from metadata units
// top-down as inserts need them, commits that write changed nodes and their
// ancestors to the copy not in force, then the other superblock copy).  It
// is an independent model of the kernel's writer, so the checker and the
// dump/restore code are tested against the format, not against themselves.
#ifndef COWMETA_TESTS_IMAGE_H
#define COWMETA_TESTS_IMAGE_H

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cowmeta/device.h"
#include "cowmeta/dirty_device.h"
#include "cowmeta/node.h"
#include "cowmeta/superblock.h"

namespace cowtest {

using namespace cowmeta;

struct sim_params {
	uint64_t array_sectors = 64 * 2048;	// 64 MiB
	uint32_t chunk_sectors = 128;		// 64 KiB
	bool no_origin = false;
	uint64_t dirty_bytes = 12ULL << 20;	// whole device
	uint64_t data_offset = 2048;		// sectors (1 MiB)
	unsigned depth = 0;			// map depth, 0 = the kernel's choice
	bool format2 = false;			// incompat SUBCHUNK (sub-chunk bits)
	bool clean = false;			// incompat CLEAN (clean chunks)
	bool cache = false;			// flag CACHE (copy-on-read)
};

class sim_array {
public:
	explicit sim_array(const sim_params &p = sim_params());

	// Write a chunk (allocating and mapping it if new); the slot's first
	// 8 bytes hold the chunk number + 1 and the write generation.
	// Format 2: @missing are the sub-chunks not written (bits 48-63 of the
	// leaf entry); a write to a mapped chunk clears the bits of the
	// sub-chunks it writes (missing &= @missing); a new chunk takes the
	// lowest free slot first (one freed by a committed unmap), then
	// alloc_next; a write to a zero chunk gives it a slot, all of the
	// chunk written (@missing ignored); a write to a clean chunk maps it
	// to a new slot as a first write and frees the clean one.
	uint64_t write(uint64_t chunk, uint16_t missing = 0);
	// Copy-on-read (incompat CLEAN): the unmapped @chunk gets a slot (as
	// a first write does) holding the origin's content (first 8 bytes:
	// the chunk number + 1, generation 0) and is mapped as a clean chunk
	// (bits 48-63 of its leaf entry all set).
	uint64_t promote(uint64_t chunk);
	// Format 2: a write-zeroes of the whole chunk: its leaf entry becomes
	// the zero chunk entry (kLeafZero); a slot it had (a clean one too)
	// is freed.
	void zero(uint64_t chunk);
	// Format 2: a discard of the whole chunk: its entry becomes 0 (it reads
	// the origin again); a slot it had (a clean one too) is freed.
	void discard(uint64_t chunk);
	// A slot handed out but never mapped (a copy-up that failed, or one
	// interrupted by a crash): leaked in format 1, free in format 2.
	uint64_t leak_slot();
	// The kernel's commit; @crash_before_sb: nodes written, superblock not.
	void commit(bool crash_before_sb = false);

	memory_device &dev() { return *dev_; }
	data_area &area() { return *area_; }
	const dirty_layout &layout() const { return layout_; }
	// The superblock of the last commit (of mdadm's create before any).
	const superblock &sb() const { return last_; }
	uint64_t seq() const { return seq_; }
	unsigned depth() const { return depth_; }
	uint32_t chunk_blocks() const { return chunk_blocks_; }
	uint64_t slot_block(uint64_t slot) const { return sb_.data_start + slot * chunk_blocks_; }
	uint64_t slot_of(uint64_t chunk) const;	// UINT64_MAX if unmapped
	const std::map<uint64_t, uint64_t> &mappings() const { return committed_map_; }
	uint16_t missing_of(uint64_t chunk) const;	// committed; 0 if whole or unmapped
	bool is_zero(uint64_t chunk) const;	// committed as a zero chunk
	bool is_clean(uint64_t chunk) const;	// committed as a clean chunk
	// Slots freed by committed unmaps and not handed out again.
	const std::set<uint64_t> &free_slots() const { return free_; }

	// Block helpers relative to the data area.
	block_buf read(uint64_t blocknr);
	void write_block(uint64_t blocknr, const block_buf &b);
	// Re-pack the superblock copy @copy after @edit (csum recomputed).
	template <typename F> void edit_sb(int copy, F edit)
	{
		block_buf b = read(static_cast<uint64_t>(copy));
		superblock s;

		superblock_traits::unpack(b, s);
		edit(s);
		superblock_traits::pack(s, b);
		write_block(static_cast<uint64_t>(copy), b);
	}
	int sb_copy() const { return sb_copy_; }	// copy holding the last commit
	// The pair and in-force copy of the node at (level, index).
	uint64_t node_pair(unsigned level, uint64_t index) const;
	int node_copy(unsigned level, uint64_t index) const;
	// Re-pack the in-force copy of a node after @edit (csum recomputed).
	template <typename F> void edit_node(unsigned level, uint64_t index, F edit)
	{
		uint64_t blk = node_pair(level, index) + static_cast<uint64_t>(node_copy(level, index));
		block_buf b = read(blk);
		node n;

		node_traits::unpack(b, n);
		edit(n);
		node_traits::pack(n, b);
		write_block(blk, b);
	}

private:
	struct snode {
		uint64_t pair = 0;
		int committed = -1;
		bool dirty = false;
		node n;
	};
	snode &get(unsigned level, uint64_t chunk);
	uint64_t alloc_pair();

	std::unique_ptr<memory_device> dev_;
	std::unique_ptr<data_area> area_;
	dirty_layout layout_;
	superblock sb_;			// template of the next superblock
	superblock last_;		// the last one written
	uint32_t chunk_blocks_, unit_slots_, unit_pairs_;
	unsigned depth_;
	uint64_t seq_ = 1;
	int sb_copy_ = 0;
	uint64_t root_ = 0, root_seq_ = 0;
	uint64_t alloc_next_ = 0, meta_unit_ = 0, meta_blocks_ = 0, mapped_ = 0;
	uint32_t meta_used_ = 0;
	uint64_t total_slots_;
	uint64_t gen_ = 0;
	std::map<std::pair<unsigned, uint64_t>, snode> nodes_;
	std::map<uint64_t, uint64_t> map_, committed_map_;	// chunk -> slot
	std::map<uint64_t, uint16_t> missing_, committed_missing_;	// chunk -> bits
	std::set<uint64_t> zero_, committed_zero_;	// zero chunks
	std::set<uint64_t> clean_, committed_clean_;	// clean chunks
	std::set<uint64_t> free_;		// free slots, handed out lowest first
	std::vector<uint64_t> freed_;		// freed since the last commit
	void set_leaf(uint64_t chunk, uint64_t e);
	void unmap(uint64_t chunk);
	uint64_t alloc_slot();
};

// The md v1.2 superblock mdadm would write (set_uuid, level 64, chunk).
void write_md_super(block_device &dev, const std::array<uint8_t, 16> &uuid,
		    uint32_t chunk_sectors, uint64_t data_offset, uint64_t data_size);

// A device that passes everything to another one and records every write
// and flush, so that a test can rebuild each state a crash could leave.
class write_log_device : public block_device {
public:
	struct op {
		bool flush = false;
		uint64_t off = 0;
		std::vector<uint8_t> data;
	};
	explicit write_log_device(block_device &under) : under_(under) {}
	uint64_t size() const override { return under_.size(); }
	bool read(void *buf, size_t len, uint64_t off) override { return under_.read(buf, len, off); }
	bool write(const void *buf, size_t len, uint64_t off) override;
	bool flush() override;
	const std::string &name() const override { return under_.name(); }
	const std::vector<op> &log() const { return log_; }

private:
	block_device &under_;
	std::vector<op> log_;
};

// Every state a crash during the logged writes can leave on a device that
// held @before when they started, as a disk with a volatile write cache
// leaves it: everything before the last completed flush is durable, of the
// writes after it any subset may be.  States tried, for each point between
// two flushes: the writes since the flush in order up to that point; each
// of them alone and all of them but one; and the last one torn (its first
// 2 KiB written).  @visit gets the image and a description; it returns
// false to stop.  Returns the number of states visited.
size_t for_each_crash_state(const std::vector<uint8_t> &before,
			    const std::vector<write_log_device::op> &log,
			    const std::function<bool(memory_device &, const std::string &)> &visit);

// A temporary file holding @dev's bytes; removed by the destructor.
class temp_file {
public:
	explicit temp_file(const std::vector<uint8_t> &bytes);
	explicit temp_file(const std::string &text);
	temp_file();
	~temp_file();
	const std::string &path() const { return path_; }
	std::vector<uint8_t> bytes() const;
	std::string text() const;

private:
	std::string path_;
};

}  // namespace cowtest

#endif
