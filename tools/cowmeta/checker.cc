// checker.cc - cow_check: superblocks, header blocks, chunk map, space
// accounting and (optionally) the origin identity.
//
// The report is nested: one section per structure ("examining cow
// superblock", "examining chunk map", ...), findings indented under it and
// prefixed "error:" (FATAL: the kernel refuses the array or would serve or
// write wrong data) or "warning:" (NON_FATAL).  Per-entry findings of one
// kind are printed up to kMaxShown times, then counted.
#include "cowmeta/checker.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "cowmeta/dump_format.h"
#include "cowmeta/handoff.h"
#include "cowmeta/map_walker.h"
#include "cowmeta/origin.h"
#include "cowmeta/strf.h"

namespace cowmeta {

namespace {

constexpr unsigned kMaxShown = 10;	// findings printed per kind
constexpr unsigned kMaxKept = 100;	// findings kept per kind
constexpr uint64_t kMaxHeaderBlocks = 65536;
constexpr uint64_t kDenseSlack = 1ULL << 20;

// A set of slot numbers: a bitmap below a limit, a hash set above it (slots
// beyond the device are damage anyway, and few).
class slot_set {
public:
	explicit slot_set(uint64_t dense) : bits_(dense) {}
	bool test_and_set(uint64_t s)
	{
		if (s < bits_.size()) {
			if (bits_[s])
				return true;
			bits_[s] = true;
		} else if (!sparse_.insert(s).second) {
			return true;
		}
		count_++;
		return false;
	}
	bool test(uint64_t s) const
	{
		return s < bits_.size() ? static_cast<bool>(bits_[s]) : sparse_.count(s) > 0;
	}
	uint64_t count() const { return count_; }

private:
	std::vector<bool> bits_;
	std::unordered_set<uint64_t> sparse_;
	uint64_t count_ = 0;
};

uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

const char *copy_name(int c)
{
	return c ? "B" : "A";
}

class checker {
public:
	checker(data_area &area, const dirty_layout &layout, nested_output &out,
		const check_options &opt)
		: area_(area), layout_(layout), out_(out), opt_(opt) {}

	check_result run();

	void report(damage d, severity s, const std::string &msg, location loc = location())
	{
		unsigned &n = counts_[d];

		res_.worst = std::max(res_.worst, s);
		loc.section = section_;
		if (n < kMaxKept)
			res_.findings.push_back({d, s, msg, loc});
		if (n < kMaxShown)
			out_(std::string(s == severity::fatal ? "error: " : "warning: ") + msg);
		n++;
	}
	void info(const std::string &msg) { out_(msg); }
	void section(const std::string &name)
	{
		section_ = name;
		info("examining " + name);
	}

	data_area &area_;
	const dirty_layout &layout_;
	nested_output &out_;
	const check_options &opt_;
	check_result res_;
	std::map<damage, unsigned> counts_;
	std::string section_;
	uint64_t total_slots_ = 0;

private:
	bool check_md();
	bool check_superblocks();
	void check_sb_fields(const block_buf &disk);
	void check_other_copy(const superblock &other);
	void check_header();
	void check_map();
	void check_origin();
};

// Per-node and per-entry checks during the walk.
class check_visitor : public map_visitor {
public:
	check_visitor(checker &c, uint64_t dense)
		: c_(c), sb_(c.res_.sb), geo_(c.res_.geo), data_(dense) {}

	void bad_pointer(unsigned level, uint64_t index, uint64_t pair,
			 pointer_fault why) override
	{
		incomplete_ = true;
		c_.report(why == pointer_fault::out_of_range ? damage::ptr_out_of_range :
			  damage::ptr_straddles, severity::fatal,
			  strf("map node pointer %" PRIu64 " (level %u, index %" PRIu64 ") is %s",
			       pair, level, index,
			       why == pointer_fault::out_of_range ?
			       "out of range (below data_start or in unallocated slots)" :
			       "not inside one metadata unit"),
			  location().at_block(pair).at_node(level, index));
	}

	bool visit_node(unsigned level, uint64_t index, uint64_t pair,
			const pair_read &r, int used) override;
	void visit_entry(uint64_t chunk, uint64_t e) override;

	checker &c_;
	const superblock &sb_;
	const geometry &geo_;
	slot_set data_;
	std::set<uint64_t> meta_slots_;
	std::set<uint64_t> pair_blocks_;
	std::map<uint64_t, std::set<uint32_t>> units_;	// unit block -> pair indices
	uint64_t nodes_[kMaxDepth] = {};
	uint64_t mapped_ = 0;		// valid entries, zero and clean chunks included
	uint64_t zero_ = 0;		// zero chunks (format 2)
	uint64_t clean_ = 0;		// clean chunks (kIncompatClean)
	uint64_t partial_ = 0;		// mapped chunks with missing sub-chunks
	uint64_t missing_subs_ = 0;	// their missing sub-chunks
	bool incomplete_ = false;
};

damage node_damage(node_status s)
{
	switch (s) {
	case node_status::unreadable: return damage::node_unreadable;
	case node_status::bad_magic_or_csum: return damage::node_bad_csum;
	case node_status::misplaced: return damage::node_misplaced;
	case node_status::wrong_seq: return damage::node_stale;
	case node_status::too_new: return damage::node_too_new;
	case node_status::ok: break;
	}
	return damage::node_unreadable;
}

std::string copy_desc(const pair_read &r, int c, uint64_t sb_seq)
{
	if (r.st[c] == node_status::ok)
		return strf("valid, seq %" PRIu64, r.seq[c]);
	if (!r.valid[c])
		return node_status_str(r.st[c]);
	if (r.st[c] == node_status::wrong_seq && r.seq[c] > sb_seq)
		return strf("seq %" PRIu64 ", debris of a commit that did not complete", r.seq[c]);
	return strf("%s (seq %" PRIu64 ")", node_status_str(r.st[c]), r.seq[c]);
}

bool check_visitor::visit_node(unsigned level, uint64_t index, uint64_t pair,
			       const pair_read &r, int used)
{
	uint64_t ds = sb_.data_start, cb = geo_.chunk_blocks;
	uint64_t slot = (pair - ds) / cb, unit;
	uint32_t idx = 0;
	bool overlap = false;

	if (level < kMaxDepth)
		nodes_[level]++;
	for (uint64_t b = pair; b < pair + 2; b++)
		if (!pair_blocks_.insert(b).second)
			overlap = true;
	if (overlap)
		c_.report(damage::pair_overlap, severity::fatal,
			  strf("node pair at block %" PRIu64 " (level %u, index %" PRIu64
			       ") overlaps another node pair: a commit of one overwrites the other",
			       pair, level, index), location().at_block(pair).at_node(level, index));
	meta_slots_.insert(slot);
	if (cb == 1) {
		meta_slots_.insert(slot + 1);
		unit = pair;
	} else {
		unit = ds + slot * cb;
		if ((pair - unit) & 1)
			c_.report(damage::pair_misaligned, severity::fatal,
				  strf("node pair at block %" PRIu64 " is not at an even block of its metadata unit"
				       " (the kernel refuses it)",
				       pair), location().at_block(pair).at_node(level, index));
		idx = static_cast<uint32_t>((pair - unit) / 2);
	}
	units_[unit].insert(idx);

	if (used < 0) {
		node_status worst = std::max(r.st[0], r.st[1]);

		incomplete_ = true;
		c_.report(node_damage(worst), severity::fatal,
			  strf("map node at block %" PRIu64 " (level %u, index %" PRIu64
			       ") is damaged: copy 0: %s; copy 1: %s",
			       pair, level, index, copy_desc(r, 0, sb_.seq).c_str(),
			       copy_desc(r, 1, sb_.seq).c_str()),
			  location().at_block(pair).at_node(level, index));
		return false;
	}
	if (c_.opt_.verbose)
		c_.info(strf("node level %u index %" PRIu64 " at block %" PRIu64
			     ": copy %d in force; copy 0: %s; copy 1: %s",
			     level, index, pair, used, copy_desc(r, 0, sb_.seq).c_str(),
			     copy_desc(r, 1, sb_.seq).c_str()));
	// The other copy is an older commit, debris of a commit that did not
	// complete, or never written; one with the node magic but a bad
	// checksum is a torn write or media damage: harmless now.
	if (r.magic[!used] && !r.valid[!used])
		c_.report(damage::node_copy_damaged, severity::non_fatal,
			  strf("the unused copy %d of map node at block %" PRIu64
			       " (level %u, index %" PRIu64 ") is damaged (torn write or media error?)",
			       !used, pair, level, index),
			  location().at_block(pair + static_cast<uint64_t>(!used)).at_node(level, index));
	if (r.copy[used].pad)
		c_.report(damage::node_padding, severity::non_fatal,
			  strf("map node at block %" PRIu64 " has non-zero padding", pair + used),
			  location().at_block(pair + static_cast<uint64_t>(used)).at_node(level, index));
	uint64_t span = 1;
	for (unsigned l = 0; l <= level; l++)
		span = sat_mul(span, kNodeEntries);
	if (sat_mul(index, span) >= geo_.nr_chunks)
		c_.report(damage::node_beyond_array, severity::non_fatal,
			  strf("map node level %u index %" PRIu64 " lies beyond the end of the array",
			       level, index), location().at_block(pair).at_node(level, index));
	return true;
}

void check_visitor::visit_entry(uint64_t chunk, uint64_t e)
{
	uint64_t slot = (e & kLeafSlotMask) - 1;
	bool ok = true;

	// Format 2: a zero chunk reads as zeros and has no slot.
	if (leaf_is_zero(e, geo_.format)) {
		if (chunk >= geo_.nr_chunks) {
			c_.report(damage::entry_chunk_range, severity::fatal,
				  strf("map entry for chunk %" PRIu64 " (a zero chunk) is beyond the array"
				       " (%" PRIu64 " chunks)", chunk, geo_.nr_chunks),
				  location().at_chunk(chunk));
			return;
		}
		mapped_++;
		zero_++;
		return;
	}

	// A clean chunk (kIncompatClean): the whole chunk is in its slot; its
	// bits 48-63 are no missing sub-chunks.  Without the feature they
	// are judged as such (and found invalid).
	bool clean = leaf_is_clean(e, geo_.clean);
	missing_fault mf = clean ? missing_fault::none :
			   chunk < geo_.nr_chunks ? leaf_missing_check(e, chunk, geo_) :
			   leaf_missing(e) && geo_.format < 2 ? missing_fault::reserved :
			   missing_fault::none;

	if (clean && !sb_.has_origin()) {
		c_.report(damage::entry_clean_no_origin, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " is a clean chunk (a copy of the"
			       " origin's) in an array without origin (entry 0x%" PRIx64 ")",
			       chunk, e), location().at_chunk(chunk));
		ok = false;
	}
	if (mf == missing_fault::reserved) {
		c_.report(damage::entry_reserved_bits, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " has reserved bits set (0x%" PRIx64 ")",
			       chunk, e), location().at_chunk(chunk));
		ok = false;
	} else if (mf != missing_fault::none) {
		c_.report(damage::entry_missing_bits, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " has invalid missing sub-chunks 0x%04x: %s"
			       " (entry 0x%" PRIx64 ")", chunk, leaf_missing(e),
			       missing_fault_str(mf), e), location().at_chunk(chunk));
		ok = false;
	}
	if (chunk >= geo_.nr_chunks) {
		c_.report(damage::entry_chunk_range, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " is beyond the array (%" PRIu64 " chunks)",
			       chunk, geo_.nr_chunks), location().at_chunk(chunk));
		ok = false;
	}
	if ((e & kLeafSlotMask) == kLeafSlotMask) {
		// The zero chunk value where it is none: out of range whatever
		// alloc_next says.
		c_.report(damage::entry_slot_range, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " (0x%" PRIx64 ") has the slot field of a"
			       " zero chunk %s: its slot is out of range", chunk, e,
			       geo_.format < 2 ? "in format 1, which has none" :
			       "with missing sub-chunk bits"), location().at_chunk(chunk));
		ok = false;
	} else if ((e & kLeafSlotMask) && slot >= sb_.alloc_next) {
		c_.report(damage::entry_slot_range, severity::fatal,
			  strf("map entry for chunk %" PRIu64 " points to slot %" PRIu64
			       ", which was never allocated (alloc_next %" PRIu64 ")",
			       chunk, slot, sb_.alloc_next), location().at_chunk(chunk).at_slot(slot));
		ok = false;
	}
	if (!ok || !(e & kLeafSlotMask))
		return;
	if (data_.test_and_set(slot)) {
		c_.report(damage::slot_mapped_twice, severity::fatal,
			  strf("slot %" PRIu64 " is mapped twice (again by chunk %" PRIu64 ")",
			       slot, chunk), location().at_chunk(chunk).at_slot(slot));
		return;
	}
	mapped_++;
	if (clean) {
		clean_++;
	} else if (leaf_missing(e)) {
		partial_++;
		missing_subs_ += static_cast<unsigned>(__builtin_popcount(leaf_missing(e)));
	}
}

bool checker::check_md()
{
	section("md superblock");
	auto _ = out_.push();

	if (!layout_.md) {
		info(strf("no md v1.2 superblock; data area at sector %" PRIu64 " (--data-offset)",
			  layout_.data_offset));
	} else {
		const md_super &md = *layout_.md;

		info(strf("array uuid %s, data offset %" PRIu64 " sectors, data size %" PRIu64
			  " sectors", uuid_str(md.set_uuid).c_str(), md.data_offset,
			  md.data_size));
		if (!md.csum_ok)
			report(damage::md_csum, severity::fatal,
			       strf("md superblock checksum mismatch (0x%08x recorded); md refuses the device",
				    md.sb_csum));
		if (md.level != kMdLevelCow)
			info(strf("md level is %d, not 64 (cow)", static_cast<int32_t>(md.level)));
		if (md.data_offset != layout_.data_offset)
			info(strf("using data offset %" PRIu64 " (--data-offset), md says %" PRIu64,
				  layout_.data_offset, md.data_offset));
	}
	for (const std::string &n : layout_.notes)
		report(damage::md_data_size, severity::fatal, n + "; md refuses the device");
	info(strf("data area: %" PRIu64 " blocks of 4 KiB", area_.blocks()));
	return true;
}

void checker::check_other_copy(const superblock &o)
{
	const superblock &sb = res_.sb;
	std::string what;

	if (o.seq == sb.seq)
		report(damage::sb_same_seq, severity::non_fatal,
		       strf("both superblock copies have seq %" PRIu64, sb.seq));
	if (o.array_uuid != sb.array_uuid)
		what += " array_uuid";
	if (o.ctime != sb.ctime)
		what += " ctime";
	if (o.array_sectors != sb.array_sectors)
		what += " array_sectors";
	if (o.chunk_sectors != sb.chunk_sectors)
		what += " chunk_sectors";
	// A merge ends with a new origin fingerprint (the copy before it
	// still has the merge flag and the old one).
	if (o.origin_sectors != sb.origin_sectors ||
	    (o.origin_fp != sb.origin_fp && !((o.flags | sb.flags) & kFlagMerge)))
		what += " origin";
	if (o.data_start != sb.data_start)
		what += " data_start";
	if ((o.flags ^ sb.flags) & kFlagNoOrigin)
		what += " flags";
	if (!what.empty())
		report(damage::sb_copies_differ, severity::non_fatal,
		       strf("the other superblock copy (seq %" PRIu64 ") describes a different array:%s",
			    o.seq, what.c_str()));
}

void checker::check_sb_fields(const block_buf &disk)
{
	const superblock &sb = res_.sb;
	std::vector<sb_problem> probs = sb_unpack_problems(sb, res_.geo);
	std::string pad;

	res_.geometry_ok = true;
	for (const sb_problem &p : probs) {
		static const damage kinds[] = {
			damage::sb_incompat, damage::sb_chunk_size, damage::sb_array_size,
			damage::sb_origin_size, damage::sb_data_start, damage::sb_depth,
			damage::sb_root, damage::sb_meta_unit, damage::sb_clean_feature,
			damage::sb_cache_flag,
		};
		static_assert(sizeof(kinds) / sizeof(kinds[0]) == sb_problem::bad_cache + 1,
			      "a damage kind per sb_problem kind");
		report(kinds[p.kind], severity::fatal, p.msg + " (the kernel refuses it)");
		if (p.geometry)
			res_.geometry_ok = false;
	}
	if (layout_.md) {
		if (layout_.md->set_uuid != sb.array_uuid)
			report(damage::md_uuid_mismatch, severity::fatal,
			       "cow metadata belongs to array " + uuid_str(sb.array_uuid) +
			       ", not " + uuid_str(layout_.md->set_uuid));
		if (layout_.md->chunksize != sb.chunk_sectors)
			report(damage::md_chunk_mismatch, severity::fatal,
			       strf("chunk size %u in cow metadata differs from md's %u",
				    sb.chunk_sectors, layout_.md->chunksize));
	}
	if (sb.ro_compat & ~kRoCompatSupp)
		report(damage::sb_ro_compat, severity::non_fatal,
		       strf("unknown ro_compat features 0x%" PRIx64 ": the array starts read-only",
			    sb.ro_compat & ~kRoCompatSupp));
	if (sb.compat & ~kCompatSupp)
		info(strf("unknown compat features 0x%" PRIx64 " (ignored)", sb.compat));
	if (sb.flags & ~kKnownFlags)
		report(damage::sb_unknown_flags, severity::non_fatal,
		       strf("unknown flags 0x%" PRIx64, sb.flags & ~kKnownFlags));
	if (sb.sb_size != kSbStructSize)
		pad += strf(" sb_size=%u", sb.sb_size);
	if (sb.pad0)
		pad += " pad0";
	if (sb.free_head)
		pad += " free_head";
	for (uint64_t r : sb.reserved)
		if (r) {
			pad += " reserved";
			break;
		}
	if (!sb_tail_zero(disk))
		pad += " bytes after the structure";
	if (!pad.empty())
		report(damage::sb_padding, severity::non_fatal,
		       "superblock fields that must be zero (or fixed) are not:" + pad);
	if (!sb.has_origin() && (sb.origin_sectors || sb.origin_fp || sb.origin_fp_method))
		report(damage::sb_no_origin_fields, severity::non_fatal,
		       "array without origin records an origin identity");
	if (sb.has_origin() && sb.origin_fp_method != kFpMethodSamples16)
		report(damage::sb_fp_method, severity::fatal,
		       strf("unknown origin fingerprint method %u: the kernel cannot verify the origin",
			    sb.origin_fp_method));
	if (sb.flags & kFlagHydrate)
		info("a hydration is under way (it goes on when the array starts)");
	if (sb.flags & kFlagCache)
		info("copy-on-read is on (reads of the origin keep clean copies)");
	if (sb.flags & kFlagMerge)
		info("a merge into the origin is under way (it goes on when the array starts)");
	if (sb.flags & kFlagNeedsCheck)
		info("the needs_check flag is set");

	if (!res_.geometry_ok)
		return;
	const geometry &g = res_.geo;
	if (!g.depth_computed && g.depth > min_depth(g.nr_chunks))
		report(damage::sb_depth_deeper, severity::non_fatal,
		       strf("map depth %u is deeper than the %u the array needs", g.depth,
			    min_depth(g.nr_chunks)));
	info(strf("%u KiB chunks, %" PRIu64 " chunks, array %" PRIu64 " sectors, map depth %u%s",
		  sb.chunk_sectors / 2, g.nr_chunks, sb.array_sectors, g.depth,
		  g.depth_computed ? " (not built yet)" : ""));
	if (g.format < 2)
		info("format 1: chunks are mapped whole");
	else if (g.sub_sectors)
		info(strf("format 2: chunks are mapped in %u sub-chunks of %u sectors", kSubchunks,
			  g.sub_sectors));
	else
		info(strf("format 2: chunks below %u sectors have no sub-chunks: mapped whole",
			  kSubchunkMinChunk));
	if (g.clean)
		info("clean chunks: a mapped chunk may be a clean copy of the origin's");
	if (sb.has_origin())
		info(strf("origin %" PRIu64 " sectors, fingerprint %08x, locator '%s'",
			  sb.origin_sectors, sb.origin_fp, sb.locator().c_str()));
	else
		info("no origin: unwritten chunks read as zeros");
	total_slots_ = area_.blocks() > sb.data_start ?
		       (area_.blocks() - sb.data_start) / g.chunk_blocks : 0;
	info(strf("data start block %" PRIu64 ", %" PRIu64 " slots on the dirty device, %" PRIu64
		  " allocated, %" PRIu64 " mapped chunks recorded",
		  sb.data_start, total_slots_, sb.alloc_next, sb.mapped_chunks));
	if (sb.alloc_next > total_slots_)
		report(damage::sb_device_too_small, severity::fatal,
		       strf("the dirty device is smaller than its allocated chunks (%" PRIu64
			    " > %" PRIu64 " slots)", sb.alloc_next, total_slots_));
}

bool checker::check_superblocks()
{
	block_buf disk[2];
	sb_status st[2];
	superblock raw[2];

	section("cow superblock");
	auto _ = out_.push();
	for (int c = 0; c < 2; c++) {
		uint64_t blocknr = c ? kSbBlockB : kSbBlockA;

		st[c] = area_.read_block(blocknr, disk[c]) ? sb_check(disk[c], blocknr) :
			sb_status::unreadable;
		if (st[c] != sb_status::unreadable)
			superblock_traits::unpack(disk[c], raw[c]);
		if (st[c] == sb_status::ok)
			info(strf("copy %s (block %d): valid, seq %" PRIu64, copy_name(c), c,
				  raw[c].seq));
		else
			info(strf("copy %s (block %d): %s", copy_name(c), c, sb_status_str(st[c])));
	}
	int use = sb_pick(st[0], raw[0].seq, st[1], raw[1].seq);
	if (use < 0) {
		report(damage::sb_none_valid, severity::fatal,
		       strf("no valid cow superblock (copy A: %s, copy B: %s)",
			    sb_status_str(st[0]), sb_status_str(st[1])));
		return false;
	}
	res_.sb_copy = use;
	res_.sb = raw[use];
	res_.format = format_of(res_.sb.incompat);
	info(strf("using copy %s, seq %" PRIu64 ", array uuid %s", copy_name(use),
		  res_.sb.seq, uuid_str(res_.sb.array_uuid).c_str()));
	if (st[!use] != sb_status::ok) {
		bool newer = st[!use] != sb_status::unreadable && st[!use] != sb_status::bad_magic &&
			     raw[!use].seq > res_.sb.seq;

		report(damage::sb_copy_invalid, severity::non_fatal,
		       strf("superblock copy %s is invalid (%s)%s", copy_name(!use),
			    sb_status_str(st[!use]),
			    newer ? "; it claims a newer seq: the array is back at the previous commit" :
			    ""), location().at_block(static_cast<uint64_t>(!use)));
	} else {
		check_other_copy(raw[!use]);
	}
	check_sb_fields(disk[use]);
	return true;
}

void checker::check_header()
{
	const superblock &sb = res_.sb;
	block_buf b;
	std::string nonzero;
	unsigned shown = 0;

	section("handoff block");
	{
		auto _ = out_.push();

		if (!area_.read_block(kHandoffBlock, b)) {
			report(damage::handoff_damaged, severity::non_fatal,
			       "handoff block is unreadable (mdadm rewrites it at assembly)");
		} else {
			handoff h;

			switch (handoff_check(b)) {
			case handoff_status::absent:
				info("no handoff block (mdadm writes it at assembly)");
				break;
			case handoff_status::damaged:
				report(damage::handoff_damaged, severity::non_fatal,
				       "handoff block is damaged (mdadm rewrites it at assembly)");
				break;
			case handoff_status::ok:
				handoff_traits::unpack(b, h);
				info(strf("origin %u:%u, %" PRIu64 " sectors", h.origin_major,
					  h.origin_minor, h.origin_sectors));
				if (h.array_uuid != sb.array_uuid)
					report(damage::handoff_foreign, severity::non_fatal,
					       "handoff block belongs to array " +
					       uuid_str(h.array_uuid));
				break;
			}
		}
	}
	if (!res_.geometry_ok)
		return;
	section("reserved header blocks");
	auto _ = out_.push();
	uint64_t end = std::min({sb.data_start, area_.blocks(), kMaxHeaderBlocks});
	for (uint64_t blk = kHandoffBlock + 1; blk < end; blk++) {
		bool zero = true;

		if (!area_.read_block(blk, b))
			continue;
		for (uint8_t x : b)
			if (x) {
				zero = false;
				break;
			}
		if (!zero && shown++ < 8)
			nonzero += " " + std::to_string(blk);
	}
	if (shown)
		report(damage::header_nonzero, severity::non_fatal,
		       strf("%u reserved header blocks are not zero:%s%s", shown,
			    nonzero.c_str(), shown > 8 ? " ..." : ""));
	else
		info(strf("blocks 3..%" PRIu64 " are zero", end ? end - 1 : 0));
}

void checker::check_map()
{
	const superblock &sb = res_.sb;
	const geometry &g = res_.geo;

	section("chunk map");
	{
		auto _ = out_.push();

		if (!sb.map_root) {
			info("empty map");
			if (sb.mapped_chunks || sb.meta_unit)
				report(damage::map_empty_inconsistent, severity::fatal,
				       strf("empty map but %" PRIu64 " mapped chunks and metadata unit %"
					    PRIu64 " recorded", sb.mapped_chunks, sb.meta_unit));
		}
	}
	uint64_t dense = std::min(sb.alloc_next, total_slots_ + kDenseSlack);
	check_visitor v(*this, dense);

	if (sb.map_root) {
		auto _ = out_.push();

		info(strf("root pair at block %" PRIu64 ", written by commit %" PRIu64, sb.map_root,
			  sb.map_root_seq));
		walk_map(area_, sb, g, v, false, opt_.prog);
		std::string levels;
		for (unsigned l = g.depth; l-- > 0;)
			levels += strf("%s%" PRIu64, l + 1 == g.depth ? "" : "/", v.nodes_[l]);
		info(strf("%s nodes per level (root first), %" PRIu64 " chunks mapped",
			  levels.c_str(), v.mapped_));
		if (g.format >= 2) {
			info(strf("%" PRIu64 " partial chunks (%" PRIu64
				  " sub-chunks still read from the %s)", v.partial_, v.missing_subs_,
				  sb.has_origin() ? "origin" : "zeros"));
			info(strf("%" PRIu64 " zero chunks (read as zeros, no slot)", v.zero_));
		}
		if (g.clean)
			info(strf("%" PRIu64 " clean chunks (copies of the origin's, may be dropped)",
				  v.clean_));
		for (uint64_t s : v.meta_slots_)
			if (v.data_.test(s))
				report(damage::slot_data_and_meta, severity::fatal,
				       strf("slot %" PRIu64 " holds both chunk data and map nodes", s),
				       location().at_slot(s));
	}

	section("space accounting");
	auto _ = out_.push();
	if (v.incomplete_) {
		info("not checked: the map could not be read completely");
		return;
	}
	res_.map_read = true;
	res_.mapped_chunks = v.mapped_;
	res_.zero_chunks = v.zero_;
	res_.clean_chunks = v.clean_;
	res_.partial_chunks = v.partial_;
	res_.missing_subchunks = v.missing_subs_;
	if (sb.map_root && v.mapped_ != sb.mapped_chunks)
		report(damage::mapped_count, severity::fatal,
		       strf("map holds %" PRIu64 " chunks, superblock says %" PRIu64, v.mapped_,
			    sb.mapped_chunks));

	// The metadata unit being filled: the kernel puts its next node pairs
	// at meta_unit + 2 * meta_used on, so those must be free.
	std::set<uint64_t> meta = v.meta_slots_;
	uint64_t units = v.units_.size();
	if (sb.map_root && sb.meta_unit && !res_.has(damage::sb_meta_unit)) {
		uint64_t off = sb.meta_unit - sb.data_start;
		uint64_t slot = off / g.chunk_blocks;
		bool filling = sb.meta_used < g.unit_pairs;
		severity s = filling ? severity::fatal : severity::non_fatal;
		auto it = v.units_.find(sb.meta_unit);

		if (off % g.chunk_blocks) {
			report(damage::meta_unit_misplaced, s,
			       strf("metadata unit %" PRIu64 " is not at a slot boundary", sb.meta_unit));
		} else if (slot + g.unit_slots > sb.alloc_next) {
			report(damage::meta_unit_misplaced, s,
			       strf("metadata unit %" PRIu64 " lies in unallocated slots", sb.meta_unit));
		} else {
			for (uint64_t i = 0; i < g.unit_slots; i++) {
				if (v.data_.test(slot + i))
					report(damage::meta_unit_misplaced, s,
					       strf("metadata unit %" PRIu64 " is slot %" PRIu64
						    ", which holds chunk data", sb.meta_unit, slot + i));
				meta.insert(slot + i);
			}
			if (it == v.units_.end())
				units++;
		}
		if (it != v.units_.end()) {
			for (uint32_t idx : it->second)
				if (idx >= sb.meta_used)
					report(damage::meta_unit_overlap, severity::fatal,
					       strf("node pair %u of metadata unit %" PRIu64
						    " is in use but meta_used is %u: the next new node overwrites it",
						    idx, sb.meta_unit, sb.meta_used));
			if (it->second.size() < sb.meta_used)
				report(damage::unit_underused, severity::non_fatal,
				       strf("metadata unit %" PRIu64 " holds %zu of the %u node pairs recorded",
					    sb.meta_unit, it->second.size(), sb.meta_used));
		}
	} else if (sb.map_root && sb.meta_used && !sb.meta_unit) {
		report(damage::unit_underused, severity::non_fatal,
		       strf("meta_used is %u without a metadata unit", sb.meta_used));
	}
	for (const auto &u : v.units_)
		if (u.first != sb.meta_unit && u.second.size() < g.unit_pairs)
			report(damage::unit_underused, severity::non_fatal,
			       strf("metadata unit %" PRIu64 " holds %zu of %u node pairs (space wasted)",
				    u.first, u.second.size(), g.unit_pairs));
	uint64_t want_meta = sat_mul(units, static_cast<uint64_t>(g.unit_slots) * g.chunk_blocks);
	if (want_meta != sb.meta_blocks)
		report(damage::meta_blocks_count, severity::non_fatal,
		       strf("%" PRIu64 " metadata units hold %" PRIu64
			    " blocks, superblock says %" PRIu64, units, want_meta, sb.meta_blocks));

	uint64_t meta_used_slots = 0;
	for (uint64_t s : meta)
		if (s < sb.alloc_next && !v.data_.test(s))
			meta_used_slots++;
	uint64_t used = v.data_.count() + meta_used_slots;
	uint64_t unused = sb.alloc_next > used ? sb.alloc_next - used : 0;
	// Format 2: slots below alloc_next that hold nothing are free (the
	// kernel finds them at assembly and hands them out again); format 1
	// has no way to reuse them: leaked.
	bool free_slots = g.format >= 2;
	uint64_t leaked = free_slots ? 0 : unused;
	res_.data_slots = v.data_.count();
	res_.meta_slots = meta_used_slots;
	res_.free_slots = free_slots ? unused : 0;
	res_.leaked_slots = leaked;
	info(strf("%" PRIu64 " slots allocated: %" PRIu64 " data, %" PRIu64
		  " metadata (%" PRIu64 " units), %" PRIu64 " %s",
		  sb.alloc_next, v.data_.count(), meta_used_slots, units, unused,
		  free_slots ? "free" : "leaked"));
	if (leaked) {
		std::string ranges;
		unsigned n = 0;
		uint64_t lim = std::min(sb.alloc_next, dense);

		for (uint64_t s = 0; s < lim && n < 5;) {
			if (v.data_.test(s) || meta.count(s)) {
				s++;
				continue;
			}
			uint64_t e = s;
			while (e + 1 < lim && !v.data_.test(e + 1) && !meta.count(e + 1))
				e++;
			ranges += e == s ? strf(" %" PRIu64, s) : strf(" %" PRIu64 "-%" PRIu64, s, e);
			n++;
			s = e + 1;
		}
		report(damage::leaked_slots, severity::non_fatal,
		       strf("%" PRIu64 " slots are allocated but neither mapped nor metadata:%s%s",
			    leaked, ranges.c_str(), n == 5 ? " ..." : ""));
	}
}

void checker::check_origin()
{
	const superblock &sb = res_.sb;
	block_device &o = *opt_.origin;
	uint32_t fp;

	section("origin " + o.name());
	auto _ = out_.push();
	if (!sb.has_origin()) {
		info("the array has no origin; nothing to compare");
		return;
	}
	if (o.size() / 512 != sb.origin_sectors) {
		report(damage::origin_size, severity::fatal,
		       strf("%s is not the origin: size %" PRIu64 " sectors, expected %" PRIu64,
			    o.name().c_str(), o.size() / 512, sb.origin_sectors));
		return;
	}
	if (sb.origin_fp_method != kFpMethodSamples16)
		return;
	if (sb.flags & kFlagMerge) {
		info("a merge is under way: the origin is part old, part new; only its size is compared");
		return;
	}
	if (!origin_fingerprint(o, fp)) {
		info("cannot read the origin");
		res_.io_error = true;
		return;
	}
	if (fp != sb.origin_fp)
		report(damage::origin_fp, severity::fatal,
		       strf("%s is not the origin: fingerprint %08x, expected %08x",
			    o.name().c_str(), fp, sb.origin_fp));
	else
		info(strf("size and fingerprint %08x match", fp));
}

check_result checker::run()
{
	check_md();
	if (check_superblocks()) {
		check_header();
		if (res_.geometry_ok)
			check_map();
		else
			info("chunk map not examined: the superblock's geometry is invalid");
		if (opt_.origin)
			check_origin();
	}
	for (const auto &c : counts_)
		if (c.second > kMaxShown)
			info(strf("(%u more findings of kind %s not shown)", c.second - kMaxShown,
				  damage_name(c.first)));
	switch (res_.worst) {
	case severity::none:
		info("no damage found");
		break;
	case severity::non_fatal:
		info("non-fatal damage found: the kernel uses this metadata as it is");
		break;
	case severity::fatal:
		info("fatal damage found: the kernel refuses this metadata or would serve wrong data");
		break;
	}
	res_.counts = counts_;
	return res_;
}

}  // namespace

bool check_result::has(damage d) const
{
	for (const finding &f : findings)
		if (f.kind == d)
			return true;
	return false;
}

const char *severity_name(severity s)
{
	switch (s) {
	case severity::none: return "none";
	case severity::non_fatal: return "non_fatal";
	case severity::fatal: return "fatal";
	}
	return "?";
}

void write_check_json(std::ostream &out, const std::string &device, const check_result &r)
{
	out << "{\n  \"device\": " << json_quote(device)
	    << ",\n  \"result\": \"" << severity_name(r.worst) << "\""
	    << ",\n  \"exit\": " << static_cast<int>(r.worst);
	if (r.sb_copy >= 0)
		out << ",\n  \"superblock\": {\"copy\": \"" << (r.sb_copy ? "B" : "A")
		    << "\", \"seq\": " << r.sb.seq << ", \"array_uuid\": \"" << uuid_str(r.sb.array_uuid)
		    << "\", \"needs_check\": " << ((r.sb.flags & kFlagNeedsCheck) ? "true" : "false")
		    << ", \"format\": " << r.format << "}";
	else
		out << ",\n  \"superblock\": null";
	if (r.map_read)
		out << ",\n  \"chunks\": {\"mapped\": " << r.mapped_chunks << ", \"partial\": "
		    << r.partial_chunks << ", \"missing_subchunks\": " << r.missing_subchunks
		    << ", \"zero\": " << r.zero_chunks << ", \"clean\": " << r.clean_chunks << "}"
		    << ",\n  \"slots\": {\"allocated\": " << r.sb.alloc_next << ", \"data\": "
		    << r.data_slots << ", \"metadata\": " << r.meta_slots << ", \"free\": "
		    << r.free_slots << ", \"leaked\": " << r.leaked_slots << "}";
	else
		out << ",\n  \"chunks\": null,\n  \"slots\": null";
	out << ",\n  \"findings\": [";
	const char *sep = "\n";
	for (const finding &f : r.findings) {
		out << sep << "    {\"kind\": \"" << damage_name(f.kind) << "\", \"severity\": \""
		    << severity_name(f.sev) << "\", \"location\": {\"section\": "
		    << json_quote(f.loc.section);
		const std::pair<const char *, uint64_t> fields[] = {
			{"block", f.loc.block}, {"level", f.loc.level}, {"index", f.loc.index},
			{"chunk", f.loc.chunk}, {"slot", f.loc.slot},
		};
		for (const auto &x : fields)
			if (x.second != location::kNone)
				out << ", \"" << x.first << "\": " << x.second;
		out << "}, \"message\": " << json_quote(f.msg) << "}";
		sep = ",\n";
	}
	out << (r.findings.empty() ? "]" : "\n  ]") << ",\n  \"counts\": {";
	sep = "";
	for (const auto &c : r.counts) {
		out << sep << "\"" << damage_name(c.first) << "\": " << c.second;
		sep = ", ";
	}
	out << "}\n}\n";
}

const char *damage_name(damage d)
{
	switch (d) {
#define D(x) case damage::x: return #x
	D(md_csum); D(md_data_size); D(md_uuid_mismatch); D(md_chunk_mismatch);
	D(sb_copy_invalid); D(sb_none_valid); D(sb_same_seq); D(sb_copies_differ);
	D(sb_incompat); D(sb_chunk_size); D(sb_array_size); D(sb_origin_size);
	D(sb_data_start); D(sb_depth); D(sb_root); D(sb_meta_unit); D(sb_clean_feature);
	D(sb_cache_flag);
	D(sb_ro_compat); D(sb_unknown_flags); D(sb_padding); D(sb_depth_deeper);
	D(sb_no_origin_fields); D(sb_fp_method); D(sb_device_too_small);
	D(handoff_damaged); D(handoff_foreign); D(header_nonzero);
	D(map_empty_inconsistent); D(ptr_out_of_range); D(ptr_straddles);
	D(node_unreadable); D(node_bad_csum); D(node_misplaced); D(node_stale);
	D(node_too_new); D(node_copy_damaged); D(pair_overlap); D(pair_misaligned); D(node_padding);
	D(node_beyond_array); D(entry_reserved_bits); D(entry_missing_bits);
	D(entry_clean_no_origin); D(entry_chunk_range);
	D(entry_slot_range); D(slot_mapped_twice); D(slot_data_and_meta);
	D(mapped_count); D(meta_blocks_count); D(unit_underused); D(leaked_slots);
	D(meta_unit_misplaced); D(meta_unit_overlap); D(origin_size); D(origin_fp);
#undef D
	}
	return "?";
}

check_result check_metadata(data_area &area, const dirty_layout &layout,
			    nested_output &out, const check_options &opt)
{
	checker c(area, layout, out, opt);

	return c.run();
}

}  // namespace cowmeta
