// run_cmd.h - running the commands in-process, as users run them.
#ifndef COWMETA_TESTS_RUN_CMD_H
#define COWMETA_TESTS_RUN_CMD_H

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "image.h"

namespace cowtest {

struct outcome {
	int rc;
	std::string out, err;
};

// Run @args (args[0] is the name run as) with standard output @o; the
// outcome's out is left empty.
inline outcome run_to(std::ostream &o, std::vector<std::string> args)
{
	std::vector<char *> argv;
	std::ostringstream e;

	for (std::string &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	int rc = cowtools::cow_tools_main(static_cast<int>(args.size()), argv.data(), o, e);
	return {rc, "", e.str()};
}

inline outcome run(std::vector<std::string> args)
{
	std::ostringstream o;
	outcome r = run_to(o, std::move(args));

	r.out = o.str();
	return r;
}

// The commands' standard image: chunks 0-39 and 600-609, one commit.
inline sim_array cli_standard()
{
	sim_array s;

	for (uint64_t c = 0; c < 40; c++)
		s.write(c);
	for (uint64_t c = 600; c < 610; c++)
		s.write(c);
	s.commit();
	return s;
}

// cow_dump @dev, cow_restore that dump onto @dev, cow_dump it again:
// @before and @after collect the two dumps.  Fails the test (ASSERT) if a
// command fails.
inline void dump_restore_dump(const std::string &dev, cowmeta::dump_collector &before,
			      cowmeta::dump_collector &after)
{
	outcome d1 = run({"cow_dump", dev});
	ASSERT_EQ(d1.rc, 0) << d1.err;
	temp_file json(d1.out);
	outcome r = run({"cow_restore", "-i", json.path(), "-o", dev});
	ASSERT_EQ(r.rc, 0) << r.err;
	outcome d2 = run({"cow_dump", dev});
	ASSERT_EQ(d2.rc, 0) << d2.err;
	cowmeta::parse_dump(d1.out, before);
	cowmeta::parse_dump(d2.out, after);
}

}  // namespace cowtest

#endif
