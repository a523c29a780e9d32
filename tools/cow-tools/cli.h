// cli.h - the command line every cow-tools command shares.
//
// Each command declares its own options and which of the common ones it
// takes; parse_command_line() adds the common ones, parses, prints --help
// (generated from the declarations, so it lists every option) and
// --version, and names an unknown option or a missing argument in its
// message.  Common options:
//
//	-h, --help		usage (exit 0)
//	-V, --version		version (exit 0)
//	-q, --quiet		print nothing but errors
//	-v, --verbose		more detail (repeatable)
//	-f, --format human|json	(kFormat)
//	-o, --output FILE	where the output goes (kOutput; "-" = stdout)
//	    --data-offset SECT	md's data area (kDataOffset)
//	    --live		read a device that is in use (kLive)
#ifndef COW_TOOLS_CLI_H
#define COW_TOOLS_CLI_H

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cowmeta/report.h"

namespace cowtools {

enum cli_feature : unsigned {
	kFormat = 1,
	kOutput = 2,
	kDataOffset = 4,
	kLive = 8,
};

struct common_options {
	bool quiet = false;
	unsigned verbose = 0;
	bool json = false;			// --format json
	std::string output;			// --output; "" = stdout
	std::optional<uint64_t> data_offset;	// --data-offset
	bool live = false;			// --live
};

// One command-specific option.  @set gets the argument (nullptr for a
// flag) and returns false if it is bad.
struct option_def {
	const char *name;
	char short_name;		// 0: long form only
	const char *arg;		// argument name for --help; nullptr: a flag
	const char *help;		// lines separated by '\n'
	std::function<bool(const char *)> set;
};

struct command_info {
	const char *name;		// "cow_check"
	const char *synopsis;		// after the name: "[options] DEV"
	const char *description;	// what it does, a few lines
	const char *exit_text;		// "Exit: ..."
	unsigned features;		// cli_feature bits
	bool json_default;		// --format json unless told
	unsigned min_args, max_args;	// positional arguments
};

// Parse @argv.  Returns -1 to go on (positional arguments in @args), or the
// exit code after --help/--version (on @out) or a usage error (on @err).
int parse_command_line(const command_info &ci, const std::vector<option_def> &opts, int argc,
		       char **argv, common_options &co, std::vector<std::string> &args,
		       std::ostream &out, std::ostream &err);

// The --help text.
std::string usage_text(const command_info &ci, const std::vector<option_def> &opts);

// Where a command's output goes: @std (stdout) or the --output file,
// opened when first used, so that a command that refuses before writing
// anything neither creates nor truncates it.
class output_file {
public:
	output_file(std::ostream &std, const std::string &path) : std_(std), path_(path) {}
	std::ostream &stream();
	// Flush and close; false with a message on @err after any write
	// error (a full disk, /dev/full, a closed pipe).
	bool close(std::ostream &err, const char *prog);

private:
	std::ostream &std_;
	std::string path_;
	std::unique_ptr<std::ofstream> file_;
};

// Checks @out after the command: false with a message if a write failed.
bool output_ok(std::ostream &out, std::ostream &err, const char *prog, const std::string &what);

// A progress display on stderr for long operations, or nullptr: only when
// @err is std::cerr, stderr is a terminal and not --quiet.
std::unique_ptr<cowmeta::progress> make_progress(const common_options &co, std::ostream &err);

}  // namespace cowtools

#endif
