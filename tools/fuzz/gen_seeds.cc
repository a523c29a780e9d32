// gen_seeds.cc - write the seed corpus of the fuzz targets from synthetic
// arrays (tests/image.h): gen_seeds DIR writes DIR/<target>/<name>.
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cowmeta/dump_format.h"
#include "cowmeta/metadata_reader.h"
#include "image.h"

using namespace cowmeta;
using cowtest::sim_array;
using cowtest::sim_params;

namespace {

std::string dir;

void put(const std::string &target, const std::string &name, const void *data, size_t len)
{
	std::string d = dir + "/" + target;

	mkdir(dir.c_str(), 0755);
	mkdir(d.c_str(), 0755);
	std::ofstream f(d + "/" + name, std::ios::binary | std::ios::trunc);
	f.write(static_cast<const char *>(data), static_cast<std::streamsize>(len));
}

void put_block(const std::string &target, const std::string &name, const block_buf &b)
{
	put(target, name, b.data(), b.size());
}

std::string dump_json(sim_array &s)
{
	std::ostringstream o, log;
	json_emitter e(o);
	nested_output n(log);

	read_metadata(s.area(), s.layout(), e, false, n);
	return o.str();
}

// The data area of @s, without its trailing zero blocks.
void put_image(const std::string &name, sim_array &s)
{
	std::vector<uint8_t> &b = s.dev().bytes();
	size_t start = s.layout().data_offset * 512, end = b.size();

	while (end > start && !b[end - 1])
		end--;
	put("image", name, b.data() + start, end - start);
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::cerr << "usage: gen_seeds DIR\n";
		return 2;
	}
	dir = argv[1];

	sim_params p;
	sim_array s(p);
	put_block("superblock", "created-A", s.read(0));
	put_block("superblock", "created-B", s.read(1));
	put_block("superblock", "handoff", s.read(2));
	for (uint64_t c = 0; c < 30; c++)
		s.write(c);
	for (uint64_t c = 600; c < 610; c++)
		s.write(c);
	s.commit();
	s.write(1000);
	s.commit();
	put_block("superblock", "committed", s.read(static_cast<uint64_t>(s.sb_copy())));
	put_block("node", "root", s.read(s.node_pair(1, 0) + s.node_copy(1, 0)));
	put_block("node", "leaf", s.read(s.node_pair(0, 0) + s.node_copy(0, 0)));
	std::string j = dump_json(s);
	put("dump", "depth2", j.data(), j.size());

	sim_params q;
	q.no_origin = true;
	q.chunk_sectors = 8;
	q.array_sectors = 2048;
	sim_array t(q);
	t.write(3);
	t.write(4);
	t.commit();
	j = dump_json(t);
	put("dump", "small", j.data(), j.size());
	std::string empty = dump_json(*std::make_unique<sim_array>(q));
	put("dump", "empty", empty.data(), empty.size());

	// Small images: 64 blocks of data area (the fuzz target's size).
	sim_params r;
	r.data_offset = 16;
	r.dirty_bytes = 8192 + 64 * kBlockSize;
	r.chunk_sectors = 8;
	r.array_sectors = 640 * 8;	// 640 chunks: depth 2
	sim_array u(r);
	for (uint64_t c : {0, 1, 2, 600, 601})
		u.write(c);
	u.commit();
	u.write(5);
	u.commit();
	put_image("4k-depth2", u);

	r.chunk_sectors = 16;
	r.array_sectors = 2048;
	sim_array v(r);
	for (uint64_t c = 0; c < 6; c++)
		v.write(c * 7);
	v.commit();
	v.write(100);
	v.leak_slot();
	v.commit();
	put_image("8k-depth1", v);

	// Format 2: partial chunks (sub-chunks of one sector), the last chunk
	// of the array partial (8 of its 16 sectors).
	r.format2 = true;
	r.array_sectors = 2040;
	sim_array w(r);
	w.write(0);
	w.write(3, 0xfff0);
	w.write(4, 0x00ff);
	w.write(5, 0x00ff);
	w.write(127, 0x0081);
	w.commit();
	w.write(3, 0x0ff0);
	w.commit();
	put_image("8k-format2", w);
	put_block("superblock", "format2", w.read(static_cast<uint64_t>(w.sb_copy())));
	put_block("node", "leaf-format2", w.read(w.node_pair(0, 0) + w.node_copy(0, 0)));
	j = dump_json(w);
	put("dump", "format2", j.data(), j.size());

	// Format 2: zero chunks (leaf entry 0x0000ffffffffffff, no slot) and
	// free slots (a written chunk zeroed, one discarded, one slot taken
	// for a write a crash interrupted), one of them handed out again.
	sim_array z(r);
	for (uint64_t c = 0; c < 8; c++)
		z.write(c);
	z.commit();
	z.zero(2);
	z.discard(4);
	z.zero(10);
	z.zero(11);
	z.zero(127);
	z.leak_slot();
	z.commit();
	z.write(20, 0x00ff);
	z.commit();
	put_image("8k-format2-zero", z);
	put_block("node", "leaf-format2-zero", z.read(z.node_pair(0, 0) + z.node_copy(0, 0)));
	j = dump_json(z);
	put("dump", "format2-zero", j.data(), j.size());

	// Format 2 with clean chunks (leaf entries with all 16 missing bits
	// set) and copy-on-read on: clean chunks next to written ones, the
	// array's partial last chunk clean, one clean chunk written again
	// (a new slot; the clean one freed), one discarded, one zeroed.
	r.clean = true;
	r.cache = true;
	sim_array k(r);
	k.write(0);
	k.write(1, 0x0ff0);
	for (uint64_t c = 2; c < 6; c++)
		k.promote(c);
	k.promote(127);
	k.commit();
	k.write(3);
	k.discard(4);
	k.zero(5);
	k.promote(9);
	k.commit();
	put_image("8k-format2-clean", k);
	put_block("superblock", "format2-clean", k.read(static_cast<uint64_t>(k.sb_copy())));
	put_block("node", "leaf-format2-clean", k.read(k.node_pair(0, 0) + k.node_copy(0, 0)));
	j = dump_json(k);
	put("dump", "format2-clean", j.data(), j.size());
	return 0;
}
