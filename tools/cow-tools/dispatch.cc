// dispatch.cc - one binary, many tools: pick the command by name.
#include <cerrno>
#include <cstring>

#include "commands.h"

#ifndef COW_TOOLS_VERSION
#define COW_TOOLS_VERSION "unknown"
#endif

namespace cowtools {

namespace {

struct command {
	const char *name;
	command_fn fn;
	const char *summary;
};

const command kCommands[] = {
	{"check", cmd_check, "validate the cow metadata of a dirty device"},
	{"dump", cmd_dump, "dump the metadata as JSON or for people"},
	{"restore", cmd_restore, "write fresh metadata from a JSON dump"},
	{"repair", cmd_repair, "salvage damaged metadata into fresh metadata"},
	{"map", cmd_map, "show where each chunk of the array is read from"},
	{"delta", cmd_delta, "compare the mappings of two dumps"},
	{"ls", cmd_ls, "list dirty devices and running arrays: space, state"},
	{"metadata_size", cmd_metadata_size, "how big a dirty device must be, RAM use"},
	{"rmap", cmd_rmap, "which chunk a dirty-device sector or slot holds"},
	{"grow", cmd_grow, "grow an LVM dirty device while space is low"},
};

const command *find(const char *name)
{
	if (!std::strncmp(name, "cow_", 4))
		name += 4;
	for (const command &c : kCommands)
		if (!std::strcmp(c.name, name))
			return &c;
	return nullptr;
}

void usage(std::ostream &o)
{
	o << "Usage: cow-tools COMMAND [options] (or run as cow_COMMAND)\n"
	     "Metadata tools for md cow arrays.  Commands:\n";
	for (const command &c : kCommands)
		o << "  " << c.name << std::string(15 - std::strlen(c.name), ' ') << c.summary << "\n";
	o << "\"cow-tools COMMAND --help\" describes a command.\n";
}

// Every command's output is checked: a write error on standard output
// (a full disk, /dev/full) makes the exit code 3 whatever the command said.
int finish(int rc, std::ostream &out, std::ostream &err)
{
	out.flush();
	if (!output_ok(out, err, "cow-tools", "standard output"))
		return kExitUsage;
	return rc;
}

}  // namespace

int cow_tools_main(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	const char *base = std::strrchr(argv[0], '/');
	const command *c;

	base = base ? base + 1 : argv[0];
	if (!std::strncmp(base, "cow_", 4) && (c = find(base)))
		return finish(c->fn(argc, argv, out, err), out, err);
	if (argc < 2) {
		usage(err);
		return kExitUsage;
	}
	if (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
		usage(out);
		return finish(kExitOk, out, err);
	}
	if (!std::strcmp(argv[1], "-V") || !std::strcmp(argv[1], "--version")) {
		out << "cow-tools (md-cow tools) " << COW_TOOLS_VERSION
		    << "; cow metadata format 1, dump format 1\n";
		return finish(kExitOk, out, err);
	}
	c = find(argv[1]);
	if (!c) {
		err << "cow-tools: unknown command '" << argv[1] << "'\n";
		usage(err);
		return kExitUsage;
	}
	return finish(c->fn(argc - 1, argv + 1, out, err), out, err);
}

}  // namespace cowtools
