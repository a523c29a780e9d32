// common.cc - option and device helpers of the cow-tools commands.
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "commands.h"

namespace cowtools {

bool parse_u64(const char *s, uint64_t &v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long x = std::strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	v = x;
	return true;
}

bool open_dirty(const std::string &path, bool writable, std::optional<uint64_t> data_offset,
		opened_dirty &od, std::ostream &err, const char *prog)
{
	std::string e;

	od.dev = cowmeta::file_device::open(path, writable, e);
	if (!od.dev) {
		err << prog << ": " << e << "\n";
		return false;
	}
	if (od.dev->busy())
		err << prog << ": warning: " << path
		    << " is in use (is the array running?): the metadata may change while it is read\n";
	if (!cowmeta::locate_data_area(*od.dev, data_offset, od.layout, e)) {
		err << prog << ": " << e << "\n";
		return false;
	}
	od.area = std::make_unique<cowmeta::data_area>(*od.dev, od.layout.data_offset * 512,
						       od.layout.data_sectors / cowmeta::kBlockSectors);
	return true;
}

bool read_text(const std::string &path, std::string &text, std::ostream &err, const char *prog)
{
	if (path == "-") {
		text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
		return true;
	}
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		err << prog << ": cannot open " << path << "\n";
		return false;
	}
	std::ostringstream ss;
	ss << in.rdbuf();
	text = ss.str();
	return true;
}

}  // namespace cowtools
