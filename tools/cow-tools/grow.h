// grow.h - cow_grow: grow a cow array's dirty device (an LVM logical volume)
// while md/cow/state is low or full.  The arithmetic and the parsing are
// pure functions, and the program runner is injectable, so that tests can
// run the whole command against a fake sysfs tree.
#ifndef COW_TOOLS_GROW_H
#define COW_TOOLS_GROW_H

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace cowtools {
namespace grow {

// The smallest step: one chunk at most (chunks are 4 KiB..1 MiB), so that
// every step adds at least one slot.
constexpr uint64_t kMinStep = 1ULL << 20;

// Steps per run before cow_grow gives up (the state is still low or full).
constexpr unsigned kMaxSteps = 64;

// A size as lvextend -L takes it: a decimal number with an optional suffix,
// case-insensitive: K, M, G, T (powers of 1024; "KiB", "KB" too), S
// (512-byte sectors) or B (bytes); no suffix means MiB.  False for
// garbage, a sign, an overflow and 0.
bool parse_size(const std::string &s, uint64_t &bytes);

// How much a step adds: N percent of the current size (1% .. 1000%), or a
// size (parse_size()).
struct step {
	bool percent = true;
	uint64_t value = 20;	// percent, or bytes
};
bool parse_step(const std::string &s, step &st);

// The size after one step from @current bytes: @current plus the step (at
// least kMinStep), rounded up to whole 512-byte sectors, at most @max
// (rounded down to whole sectors; 0: no limit).  Returns @current when
// there is no room below @max.
uint64_t next_size(uint64_t current, const step &st, uint64_t max);

// "16.0 MiB", "512 B".
std::string human_size(uint64_t bytes);

// "vg0/cow--dirty" from device-mapper name "vg0-cow----dirty" (LVM doubles
// the dashes in VG and LV names); @dm_name itself when it is not of that
// form.
std::string lv_name(const std::string &dm_name);

// Runs a program: @argv[0] is looked up in PATH.  Returns its exit status,
// 128 + N when signal N killed it, or -errno when it could not be started
// (-ENOENT: not found).
using command_runner = std::function<int(const std::vector<std::string> &argv)>;

// The real runner: fork and exec, the program's standard output and error
// both go to our standard error, its standard input is /dev/null.
int exec_command(const std::vector<std::string> &argv);

// cmd_grow() with programs run by @run.
int run_grow(int argc, char **argv, std::ostream &out, std::ostream &err, const command_runner &run);

}  // namespace grow
}  // namespace cowtools

#endif
