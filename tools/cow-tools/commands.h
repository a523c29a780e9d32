// commands.h - the cow-tools subcommands.
//
// Each command takes its own argv (argv[0] is the command name) and writes
// to the given streams, so tests can run it in-process.  Exit codes (per
// command in Documentation/admin-guide/md-cow-tools.rst):
#ifndef COW_TOOLS_COMMANDS_H
#define COW_TOOLS_COMMANDS_H

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cowmeta/device.h"
#include "cowmeta/dirty_device.h"

namespace cowtools {

enum exit_code {
	kExitOk = 0,
	kExitNonFatal = 1,	// check: non-fatal damage; repair: something lost
	kExitFatal = 2,		// check: fatal damage; others: refused metadata/dump
	kExitUsage = 3,		// usage or I/O error
};

using command_fn = int (*)(int argc, char **argv, std::ostream &out, std::ostream &err);

int cmd_check(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_dump(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_restore(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_repair(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_map(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_delta(int argc, char **argv, std::ostream &out, std::ostream &err);

// Dispatch on basename(argv[0]) (cow_check, ...) or on the first argument
// (cow-tools check ..., cow-tools cow_check ...).
int cow_tools_main(int argc, char **argv, std::ostream &out, std::ostream &err);

// ---- helpers shared by the commands ----

bool parse_u64(const char *s, uint64_t &v);

// An opened dirty device with its data area located.
struct opened_dirty {
	std::unique_ptr<cowmeta::file_device> dev;
	cowmeta::dirty_layout layout;
	std::unique_ptr<cowmeta::data_area> area;
};

bool open_dirty(const std::string &path, bool writable, std::optional<uint64_t> data_offset,
		opened_dirty &od, std::ostream &err, const char *prog);

// Read a whole file ("-" = stdin).
bool read_text(const std::string &path, std::string &text, std::ostream &err, const char *prog);

}  // namespace cowtools

#endif
