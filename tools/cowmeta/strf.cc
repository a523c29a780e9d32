// strf.cc - printf-style formatting into a std::string.
#include "cowmeta/strf.h"

#include <cstdarg>
#include <cstdio>
#include <vector>

namespace cowmeta {

std::string strf(const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = std::vsnprintf(nullptr, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return std::string();
	}
	std::vector<char> buf(static_cast<size_t>(n) + 1);
	std::vsnprintf(buf.data(), buf.size(), fmt, ap2);
	va_end(ap2);
	return std::string(buf.data(), static_cast<size_t>(n));
}

}  // namespace cowmeta
