// common.cc - option and device helpers of the cow-tools commands.
#include <cctype>
#include <cerrno>
#include <cstring>
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

bool parse_size(const char *s, uint64_t &v)
{
	static const char kSuffix[] = "kmgtp";
	char *end;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long x = std::strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	if (*end) {
		const char *p = std::strchr(kSuffix, std::tolower(static_cast<unsigned char>(*end)));

		if (!p)
			return false;
		shift = 10 * static_cast<unsigned>(p - kSuffix + 1);
		end++;
		if (!std::strcmp(end, "iB") || !std::strcmp(end, "B"))
			end += std::strlen(end);
		if (*end)
			return false;
	}
	if (shift && x > (UINT64_MAX >> shift))
		return false;
	v = static_cast<uint64_t>(x) << shift;
	return true;
}

bool open_dirty(const std::string &path, bool writable, const common_options &co,
		opened_dirty &od, std::ostream &err, const char *prog)
{
	cowmeta::file_device::mode m;
	std::string e;

	m.writable = writable;
	m.allow_busy = co.live;
	od.dev = cowmeta::file_device::open(path, m, e);
	if (!od.dev) {
		err << prog << ": " << e << "\n";
		return false;
	}
	if (od.dev->busy() && !co.quiet)
		err << prog << ": warning: " << path
		    << " is in use (--live): the metadata may change while it is read\n";
	if (!cowmeta::locate_data_area(*od.dev, co.data_offset, od.layout, e)) {
		err << prog << ": " << e << "\n";
		return false;
	}
	if (od.layout.md && od.layout.md->level != cowmeta::kMdLevelCow) {
		err << prog << ": " << path << " is not a cow device: its md superblock is of a level "
		    << static_cast<int32_t>(od.layout.md->level) << " array ("
		    << cowmeta::md_level_name(od.layout.md->level) << "), not level "
		    << cowmeta::kMdLevelCow << " (cow)\n";
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
