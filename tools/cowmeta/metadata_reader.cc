// metadata_reader.cc - device -> emitter, strict or salvaging.
#include "cowmeta/metadata_reader.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_set>

#include "cowmeta/checker.h"
#include "cowmeta/handoff.h"
#include "cowmeta/map_walker.h"
#include "cowmeta/strf.h"

namespace cowmeta {

namespace {

uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

// Chunks covered by the node at @level, @index, clipped to the array.
uint64_t subtree_chunks(const geometry &g, unsigned level, uint64_t index)
{
	uint64_t span = 1, first;

	for (unsigned l = 0; l <= level; l++)
		span = sat_mul(span, kNodeEntries);
	first = sat_mul(index, span);
	if (first >= g.nr_chunks)
		return 0;
	return std::min(span, g.nr_chunks - first);
}

// Strict: entries are known good (the checker passed); stream them.
class stream_visitor : public map_visitor {
public:
	stream_visitor(run_builder &rb, const geometry &g) : rb_(rb), g_(g) {}
	void bad_pointer(unsigned, uint64_t, uint64_t, pointer_fault) override { bad_ = true; }
	bool visit_node(unsigned, uint64_t, uint64_t, const pair_read &, int used) override
	{
		if (used < 0)
			bad_ = true;
		return used >= 0;
	}
	void visit_entry(uint64_t chunk, uint64_t e) override
	{
		if (leaf_is_zero(e, g_.format)) {
			rb_.add_zero(chunk);
			zero_++;
		} else if (leaf_is_clean(e, g_.clean)) {
			rb_.add_clean(chunk, leaf_slot(e));
			clean_++;
		} else {
			rb_.add(chunk, leaf_slot(e), leaf_missing(e));
		}
		mapped_++;
	}
	run_builder &rb_;
	const geometry &g_;
	uint64_t zero_ = 0;
	uint64_t clean_ = 0;
	bool bad_ = false;
	uint64_t mapped_ = 0;
};

// Salvage in two walks, so that memory is two bits per slot, not a list
// of every mapping: the first finds the slots that hold map nodes (and
// logs what is lost), the second streams the entries that survive (valid,
// not in a node slot, the first to use their slot) into a run builder.
class salvage_visitor : public map_visitor {
public:
	salvage_visitor(const superblock &sb, const geometry &g, uint64_t total_slots,
			nested_output &log)
		: sb_(sb), g_(g), total_slots_(total_slots), log_(log),
		  meta_slots_(std::min(sb.alloc_next, total_slots)),
		  used_(std::min(sb.alloc_next, total_slots)) {}

	// Second walk: stream into @rb.
	void second_walk(run_builder &rb) { rb_ = &rb; }

	void lose(unsigned level, uint64_t index, const std::string &why)
	{
		uint64_t n = subtree_chunks(g_, level, index);

		lost_ += n;
		log_(strf("lost: map node level %u index %" PRIu64 " (up to %" PRIu64
			  " chunks from chunk %" PRIu64 "): %s", level, index, n,
			  first_chunk(level, index), why.c_str()));
	}
	uint64_t first_chunk(unsigned level, uint64_t index)
	{
		uint64_t span = 1;

		for (unsigned l = 0; l <= level; l++)
			span = sat_mul(span, kNodeEntries);
		return sat_mul(index, span);
	}
	void bad_pointer(unsigned level, uint64_t index, uint64_t pair, pointer_fault) override
	{
		if (!rb_)
			lose(level, index, strf("pointer %" PRIu64 " out of range", pair));
	}
	bool visit_node(unsigned level, uint64_t index, uint64_t pair, const pair_read &r,
			int used) override
	{
		uint64_t slot = (pair - sb_.data_start) / g_.chunk_blocks;

		if (rb_)
			return used >= 0;
		for (uint64_t s = slot; s <= slot + (g_.chunk_blocks == 1 ? 1 : 0); s++)
			if (s < meta_slots_.size())
				meta_slots_[s] = true;
		if (used < 0) {
			lose(level, index, strf("node pair at block %" PRIu64
						" has no usable copy (%s; %s)", pair,
						node_status_str(r.st[0]), node_status_str(r.st[1])));
			return false;
		}
		if (used != r.in_force)
			log_(strf("recovered: map node level %u index %" PRIu64 " at block %" PRIu64
				  " from its older copy (seq %" PRIu64 "); changes after that commit are lost",
				  level, index, pair, r.seq[used]));
		return true;
	}
	void visit_entry(uint64_t chunk, uint64_t e) override
	{
		uint64_t slot = leaf_slot(e);
		uint16_t missing = leaf_missing(e);
		missing_fault mf;

		if (!rb_)
			return;
		// Format 2: a zero chunk has no slot to check.  The zero chunk
		// value in format 1 or with missing bits is out of range below.
		if (leaf_is_zero(e, g_.format) && chunk < g_.nr_chunks) {
			rb_->add_zero(chunk);
			mapped_++;
			zero_++;
			return;
		}
		if (!(e & kLeafSlotMask) || chunk >= g_.nr_chunks ||
		    slot >= sb_.alloc_next || slot >= total_slots_) {
			drop(strf("invalid map entry 0x%" PRIx64 " for chunk %" PRIu64, e, chunk));
			return;
		}
		// A clean chunk (kIncompatClean): all of it is in the slot.
		// Without an origin it cannot be one (the kernel refuses it):
		// the slot holds the origin's content of when there was one,
		// what the array read before, so it is kept as written data.
		bool clean = leaf_is_clean(e, g_.clean);
		if (clean && !sb_.has_origin()) {
			fix(strf("chunk %" PRIu64 ": a clean chunk in an array without origin, kept"
				 " as written data (the whole chunk is in slot %" PRIu64 ")", chunk, slot));
			clean = false;
			missing = 0;
		}
		// Sub-chunk bits (format 2): keep every sub-chunk the entry
		// says is in the slot, never serve one it says is not.
		mf = clean || !missing ? missing_fault::none : leaf_missing_check(e, chunk, g_);
		switch (mf) {
		case missing_fault::none:
			break;
		case missing_fault::reserved:
		case missing_fault::no_slot:
			drop(strf("invalid map entry 0x%" PRIx64 " for chunk %" PRIu64, e, chunk));
			return;
		case missing_fault::small_chunk:
			// The kernel maps such a chunk only once all of it
			// is in the slot: the bits are noise.
			fix(strf("chunk %" PRIu64 ": cleared missing sub-chunks 0x%04x (%s): the whole"
				 " chunk is in slot %" PRIu64, chunk, missing, missing_fault_str(mf), slot));
			missing = 0;
			break;
		case missing_fault::past_end:
		case missing_fault::all_missing:
			missing &= g_.subchunks(chunk);
			if (missing == g_.subchunks(chunk)) {
				drop(strf("chunk %" PRIu64 " (entry 0x%" PRIx64 ") has no sub-chunk in"
					  " slot %" PRIu64 ": it reads the %s, as before", chunk, e, slot,
					  sb_.has_origin() ? "origin" : "zeros"));
				return;
			}
			fix(strf("chunk %" PRIu64 ": cleared the bits of sub-chunks past the end of the"
				 " array (missing 0x%04x, now 0x%04x)", chunk, leaf_missing(e), missing));
			break;
		}
		if (meta_slots_[slot]) {
			drop(strf("chunk %" PRIu64 " maps to slot %" PRIu64 ", which holds map nodes",
				  chunk, slot));
			return;
		}
		if (used_[slot]) {
			drop(strf("chunk %" PRIu64 " maps to slot %" PRIu64 ", which another chunk uses",
				  chunk, slot));
			return;
		}
		used_[slot] = true;
		if (clean) {
			rb_->add_clean(chunk, slot);
			clean_++;
		} else {
			rb_->add(chunk, slot, missing);
		}
		mapped_++;
	}
	void drop(const std::string &why)
	{
		if (dropped_++ < 20)
			log_("dropped: " + why);
	}
	void fix(const std::string &what)
	{
		if (fixed_++ < 20)
			log_("repaired: " + what);
	}

	const superblock &sb_;
	const geometry &g_;
	uint64_t total_slots_;
	nested_output &log_;
	std::vector<bool> meta_slots_;	// slots below alloc_next holding nodes
	std::vector<bool> used_;	// slots mapped so far (second walk)
	run_builder *rb_ = nullptr;
	uint64_t lost_ = 0, dropped_ = 0, fixed_ = 0, mapped_ = 0, zero_ = 0, clean_ = 0;
};

}  // namespace

bool find_superblock(data_area &area, bool salvage, superblock &sb, geometry &geo,
		     nested_output &log, std::string &err)
{
	block_buf b[2];
	sb_status st[2];
	superblock raw[2];
	int use;

	for (int c = 0; c < 2; c++) {
		st[c] = area.read_block(static_cast<uint64_t>(c), b[c]) ?
			sb_check(b[c], static_cast<uint64_t>(c)) : sb_status::unreadable;
		if (st[c] != sb_status::unreadable)
			superblock_traits::unpack(b[c], raw[c]);
	}
	use = sb_pick(st[0], raw[0].seq, st[1], raw[1].seq);
	if (use >= 0) {
		bool bad = false;

		sb = raw[use];
		for (const sb_problem &p : sb_unpack_problems(sb, geo))
			bad |= p.geometry;
		if (!bad)
			return true;
		if (!salvage || st[!use] != sb_status::ok) {
			err = "the superblock's geometry is invalid";
			if (!salvage)
				return false;
		}
	}
	if (!salvage) {
		err = strf("no valid cow superblock (copy A: %s, copy B: %s)",
			   sb_status_str(st[0]), sb_status_str(st[1]));
		return false;
	}
	// Salvage: any copy with the right magic whose geometry is usable.
	int best = -1;
	for (int c = 0; c < 2; c++) {
		geometry g;
		bool bad = st[c] == sb_status::unreadable || st[c] == sb_status::bad_magic;

		if (!bad)
			for (const sb_problem &p : sb_unpack_problems(raw[c], g))
				bad |= p.geometry;
		if (!bad && (best < 0 || raw[c].seq > raw[best].seq))
			best = c;
	}
	if (best < 0) {
		err = strf("no usable cow superblock (copy A: %s, copy B: %s)",
			   sb_status_str(st[0]), sb_status_str(st[1]));
		return false;
	}
	sb = raw[best];
	sb_unpack_problems(sb, geo);
	if (st[best] != sb_status::ok)
		log(strf("warning: using superblock copy %s although it is invalid (%s)",
			 best ? "B" : "A", sb_status_str(st[best])));
	return true;
}

read_result read_metadata(data_area &area, const dirty_layout &layout, emitter &e,
			  bool salvage, nested_output &log, progress *prog)
{
	read_result res;
	superblock sb;
	geometry geo;
	block_buf b;

	if (!salvage) {
		std::ostringstream sink;
		nested_output quiet(sink, false);
		check_options copt;

		copt.prog = prog;
		check_result cr = check_metadata(area, layout, quiet, copt);

		if (cr.worst == severity::fatal) {
			res.err = "the metadata has fatal damage (cow_check shows it; cow_repair salvages it)";
			return res;
		}
	}
	if (!find_superblock(area, salvage, sb, geo, log, res.err))
		return res;
	uint64_t total_slots = area.blocks() > sb.data_start ?
			       (area.blocks() - sb.data_start) / geo.chunk_blocks : 0;

	if (salvage) {
		salvage_visitor v(sb, geo, total_slots, log);
		run_builder rb(e);

		walk_map(area, sb, geo, v, true, prog);
		e.begin(sb);
		if (area.read_block(kHandoffBlock, b) && handoff_check(b) == handoff_status::ok) {
			handoff h;

			handoff_traits::unpack(b, h);
			e.emit_handoff(h);
		}
		v.second_walk(rb);
		walk_map(area, sb, geo, v, true, prog);
		rb.finish();
		e.end();
		if (v.dropped_ > 20)
			log(strf("(%" PRIu64 " more dropped entries not shown)", v.dropped_ - 20));
		if (v.fixed_ > 20)
			log(strf("(%" PRIu64 " more repaired entries not shown)", v.fixed_ - 20));
		res.lost_chunks = v.lost_;
		res.dropped = v.dropped_;
		res.fixed = v.fixed_;
		res.mapped = v.mapped_;
		res.zero = v.zero_;
		res.clean = v.clean_;
		res.ok = true;
		return res;
	}

	e.begin(sb);
	if (area.read_block(kHandoffBlock, b) && handoff_check(b) == handoff_status::ok) {
		handoff h;

		handoff_traits::unpack(b, h);
		e.emit_handoff(h);
	}
	run_builder rb(e);
	stream_visitor v(rb, geo);
	walk_map(area, sb, geo, v, false, prog);
	rb.finish();
	e.end();
	res.mapped = v.mapped_;
	res.zero = v.zero_;
	res.clean = v.clean_;
	if (v.bad_) {
		res.err = "the chunk map could not be read completely";
		return res;
	}
	res.ok = true;
	return res;
}

}  // namespace cowmeta
