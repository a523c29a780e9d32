// ls.cc - cow_ls: list cow arrays and dirty devices: space and state.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "commands.h"
#include "cowmeta/checker.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/strf.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_ls", "[options] [DEV...]",
	"List cow arrays: each DEV (a running cow array /dev/mdN, a member of one,\n"
	"or the dirty device of a stopped array, or an image of it), or without\n"
	"DEV every running cow array.  For each: array, dirty device, origin, chunk\n"
	"size, slots mapped (chunk data), of them clean (copies of the origin's\n"
	"that copy-on-read keeps), used (data and map), free and total,\n"
	"metadata blocks, state.  Running arrays are read from sysfs\n"
	"(/sys/block/mdN/md/cow/), stopped ones from their cow superblock and,\n"
	"in format 2, their chunk map (free slots below alloc_next are free).",
	"Exit: 0 ok, 3 usage or I/O error, or a DEV is neither a cow array nor a\n"
	"cow dirty device.\n",
	kFormat | kOutput | kDataOffset, false, 0, 1u << 20,
};

struct row {
	std::string array = "-", dirty = "-", origin = "-", state;
	uint64_t chunk_bytes = 0, mapped = 0, used = 0, total = 0, meta_blocks = 0;
	uint64_t zero = 0;	// zero chunks (format 2): mapped, but no slot
	uint64_t clean = 0;	// clean chunks: mapped, in a slot, may be dropped
};

std::string read_line(const std::string &path)
{
	std::ifstream f(path);
	std::string s;

	std::getline(f, s);
	return s;
}

bool read_u64(const std::string &path, uint64_t &v)
{
	return parse_u64(read_line(path).c_str(), v);
}

// The name of block device MAJ:MIN ("vda"), from sysfs.
std::string dev_name(const std::string &sys, const std::string &majmin)
{
	char buf[4096];
	ssize_t n = readlink((sys + "/dev/block/" + majmin).c_str(), buf, sizeof(buf) - 1);

	if (n <= 0)
		return majmin;
	buf[n] = 0;
	std::string p(buf);
	return "/dev/" + p.substr(p.rfind('/') + 1);
}

// A running array from /sys/block/@md/md/cow; false if it is not one.
bool array_row(const std::string &sys, const std::string &md, row &r)
{
	std::string d = sys + "/block/" + md + "/md/";
	if (read_line(d + "level") != "cow")
		return false;
	r.array = "/dev/" + md;
	std::string o = read_line(d + "cow/origin");
	r.origin = o.empty() || o == "none" ? "none" : dev_name(sys, o);
	read_u64(d + "cow/chunk_size", r.chunk_bytes);
	read_u64(d + "cow/mapped_chunks", r.mapped);
	// Zero chunks (format 2) count as mapped chunks but hold no slot.
	if (read_u64(d + "cow/zero_chunks", r.zero))
		r.mapped = r.mapped > r.zero ? r.mapped - r.zero : 0;
	read_u64(d + "cow/clean_chunks", r.clean);
	read_u64(d + "cow/used_slots", r.used);
	read_u64(d + "cow/total_slots", r.total);
	read_u64(d + "cow/meta_blocks", r.meta_blocks);
	r.state = read_line(d + "cow/state");
	if (r.state.empty())
		r.state = "?";
	if (DIR *dir = opendir(d.c_str())) {
		while (struct dirent *e = readdir(dir))
			if (!std::string(e->d_name).compare(0, 4, "dev-"))
				r.dirty = "/dev/" + std::string(e->d_name + 4);
		closedir(dir);
	}
	return true;
}

// The running array holding block device @path, if any ("md127").
std::string holder_array(const std::string &sys, const std::string &path, bool &is_md)
{
	struct stat st;

	is_md = false;
	if (stat(path.c_str(), &st) || !S_ISBLK(st.st_mode))
		return "";
	std::string majmin = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
	std::string dev = dev_name(sys, majmin);
	if (dev.compare(0, 5, "/dev/"))
		return "";
	std::string name = dev.substr(5);
	std::string md = sys + "/block/" + name + "/md";
	struct stat x;
	if (stat(md.c_str(), &x) == 0) {
		is_md = true;
		return name;
	}
	std::string holders = sys + "/class/block/" + name + "/holders";
	std::string found;
	if (DIR *dir = opendir(holders.c_str())) {
		while (struct dirent *e = readdir(dir))
			if (!std::string(e->d_name).compare(0, 2, "md"))
				found = e->d_name;
		closedir(dir);
	}
	return found;
}

// A stopped dirty device (or image) from its cow superblock.
bool device_row(const std::string &path, const common_options &co, row &r, std::ostream &err)
{
	opened_dirty od;
	std::ostringstream sink;
	cowmeta::nested_output quiet(sink, false);
	cowmeta::superblock sb;
	cowmeta::geometry g;
	std::string e;

	if (!open_dirty(path, false, co, od, err, "cow_ls"))
		return false;
	if (!cowmeta::find_superblock(*od.area, false, sb, g, quiet, e)) {
		err << "cow_ls: " << path << ": " << e << "\n";
		return false;
	}
	r.dirty = path;
	r.origin = sb.has_origin() ? sb.locator().empty() ? "(unnamed)" : sb.locator() : "none";
	r.chunk_bytes = static_cast<uint64_t>(sb.chunk_sectors) * 512;
	r.mapped = sb.mapped_chunks;
	r.used = sb.alloc_next;
	r.total = od.area->blocks() > sb.data_start ? (od.area->blocks() - sb.data_start) / g.chunk_blocks : 0;
	r.meta_blocks = sb.meta_blocks;
	r.state = (sb.flags & cowmeta::kFlagNeedsCheck) ? "stopped, needs-check" : "stopped";
	if (cowmeta::format_of(sb.incompat) < 2)
		return true;
	// Format 2: slots below alloc_next may be free and mapped chunks may
	// be zero chunks (no slot); only the map tells.  If it cannot be read
	// whole, the superblock's counts stand.
	cowmeta::check_result c = cowmeta::check_metadata(*od.area, od.layout, quiet,
							   cowmeta::check_options());
	if (c.map_read && c.sb.seq == sb.seq) {
		r.mapped = c.data_slots;
		r.used = c.data_slots + c.meta_slots;
		r.zero = c.zero_chunks;
		r.clean = c.clean_chunks;
	}
	return true;
}

std::string size_str(uint64_t b)
{
	static const char *u = "BKMGTP";
	int i = 0;
	double v = static_cast<double>(b);

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	return i ? cowmeta::strf(v < 10 ? "%.1f%c" : "%.0f%c", v, u[i]) : cowmeta::strf("%" PRIu64 "B", b);
}

}  // namespace

int cmd_ls(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	std::string sys = "/sys";
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"sysfs", 0, "DIR", "read sysfs from DIR (default /sys; for tests)",
		 [&](const char *a) { sys = a; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	std::vector<row> rows;
	bool failed = false;
	if (args.empty()) {
		std::vector<std::string> mds;

		if (DIR *dir = opendir((sys + "/block").c_str())) {
			while (struct dirent *e = readdir(dir))
				if (!std::string(e->d_name).compare(0, 2, "md"))
					mds.push_back(e->d_name);
			closedir(dir);
		}
		std::sort(mds.begin(), mds.end());
		for (const std::string &m : mds) {
			row r;

			if (array_row(sys, m, r))
				rows.push_back(r);
		}
	}
	for (const std::string &a : args) {
		bool is_md;
		std::string md = holder_array(sys, a, is_md);
		row r;

		if (!md.empty() && array_row(sys, md, r)) {
			rows.push_back(r);
			continue;
		}
		if (is_md) {
			err << "cow_ls: " << a << " is not a cow array\n";
			failed = true;
			continue;
		}
		if (device_row(a, co, r, err))
			rows.push_back(r);
		else
			failed = true;
	}

	output_file of(out, co.output);
	std::ostream &o = of.stream();
	if (co.json) {
		const char *sep = "\n";

		o << "[";
		for (const row &r : rows) {
			o << sep << "  {\"array\": " << (r.array == "-" ? "null" : cowmeta::json_quote(r.array))
			  << ", \"dirty\": " << cowmeta::json_quote(r.dirty)
			  << ", \"origin\": " << cowmeta::json_quote(r.origin)
			  << ", \"chunk_bytes\": " << r.chunk_bytes << ", \"mapped_slots\": " << r.mapped
			  << ", \"used_slots\": " << r.used
			  << ", \"free_slots\": " << (r.total > r.used ? r.total - r.used : 0)
			  << ", \"total_slots\": " << r.total << ", \"meta_blocks\": " << r.meta_blocks
			  << ", \"state\": " << cowmeta::json_quote(r.state)
			  << ", \"zero_chunks\": " << r.zero << ", \"clean_chunks\": " << r.clean << "}";
			sep = ",\n";
		}
		o << (rows.empty() ? "]\n" : "\n]\n");
	} else if (!rows.empty() || !co.quiet) {
		const char *fmt = "%-14s %-18s %-24s %6s %10s %10s %10s %10s %10s %5s %7s  %s\n";

		o << cowmeta::strf(fmt, "ARRAY", "DIRTY", "ORIGIN", "CHUNK", "MAPPED", "CLEAN", "USED",
				   "FREE", "TOTAL", "USE%", "META", "STATE");
		for (const row &r : rows) {
			uint64_t free = r.total > r.used ? r.total - r.used : 0;

			o << cowmeta::strf(fmt, r.array.c_str(), r.dirty.c_str(), r.origin.c_str(),
					   size_str(r.chunk_bytes).c_str(),
					   std::to_string(r.mapped).c_str(), std::to_string(r.clean).c_str(),
					   std::to_string(r.used).c_str(),
					   std::to_string(free).c_str(), std::to_string(r.total).c_str(),
					   r.total ? cowmeta::strf("%" PRIu64 "%%", r.used * 100 / r.total).c_str() : "-",
					   size_str(r.meta_blocks * cowmeta::kBlockSize).c_str(), r.state.c_str());
		}
	}
	if (!of.close(err, "cow_ls"))
		return kExitUsage;
	return failed ? kExitUsage : kExitOk;
}

}  // namespace cowtools
