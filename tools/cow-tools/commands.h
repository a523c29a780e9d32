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
#include "cli.h"

namespace cowtools {

enum exit_code {
	kExitOk = 0,
	kExitNonFatal = 1,	// check: non-fatal damage; repair: something lost;
				// grow: a step failed, at --max, still low
	kExitFatal = 2,		// check: fatal damage; others: refused metadata/dump;
				// grow: not applicable (not cow, not an LV, state)
	kExitUsage = 3,		// usage or I/O error
};

using command_fn = int (*)(int argc, char **argv, std::ostream &out, std::ostream &err);

int cmd_check(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_dump(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_restore(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_repair(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_map(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_delta(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_ls(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_metadata_size(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_rmap(int argc, char **argv, std::ostream &out, std::ostream &err);
int cmd_grow(int argc, char **argv, std::ostream &out, std::ostream &err);

// Dispatch on basename(argv[0]) (cow_check, ...) or on the first argument
// (cow-tools check ..., cow-tools cow_check ...).
int cow_tools_main(int argc, char **argv, std::ostream &out, std::ostream &err);

// ---- helpers shared by the commands ----

bool parse_u64(const char *s, uint64_t &v);
// A size: bytes, or with a K, M, G, T or P suffix (powers of 1024; "KiB",
// "k", ... are accepted too).
bool parse_size(const char *s, uint64_t &v);

// An opened dirty device with its data area located.
struct opened_dirty {
	std::unique_ptr<cowmeta::file_device> dev;
	cowmeta::dirty_layout layout;
	std::unique_ptr<cowmeta::data_area> area;
};

// Open @path (the dirty device or an image) and locate md's data area
// (@co.data_offset, else md's superblock).  Refused, with a message: a
// device in use unless @co.live (never for writing), a device whose md
// superblock is not of a cow array ("not a cow device").
bool open_dirty(const std::string &path, bool writable, const struct common_options &co,
		opened_dirty &od, std::ostream &err, const char *prog);

// Read a whole file ("-" = stdin).
bool read_text(const std::string &path, std::string &text, std::ostream &err, const char *prog);

}  // namespace cowtools

#endif
