// strf.h - printf-style formatting into a std::string.
#ifndef COWMETA_STRF_H
#define COWMETA_STRF_H

#include <cinttypes>
#include <string>

namespace cowmeta {

std::string strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace cowmeta

#endif
