// cli.cc - option parsing, --help and --version, checked output.
#include "cli.h"

#include <getopt.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <cstring>
#include <sstream>

#include "commands.h"

#ifndef COW_TOOLS_VERSION
#define COW_TOOLS_VERSION "unknown"
#endif

namespace cowtools {

namespace {

// The common options as option_defs writing into @co.
std::vector<option_def> common_defs(const command_info &ci, common_options &co, std::ostream &err)
{
	std::vector<option_def> v;
	std::string prog = ci.name;

	if (ci.features & kFormat)
		v.push_back({"format", 'f', "human|json",
			     ci.json_default ? "output format (default json)" : "output format (default human)",
			     [&co](const char *a) {
				     if (!std::strcmp(a, "json"))
					     co.json = true;
				     else if (!std::strcmp(a, "human"))
					     co.json = false;
				     else
					     return false;
				     return true;
			     }});
	if (ci.features & kOutput)
		v.push_back({"output", 'o', "FILE", "write the output to FILE (default stdout)",
			     [&co](const char *a) { co.output = !std::strcmp(a, "-") ? "" : a; return true; }});
	if (ci.features & kDataOffset)
		v.push_back({"data-offset", 0, "SECT",
			     "md's data area starts at sector SECT (default:\nfrom md's v1.2 superblock)",
			     [&co](const char *a) {
				     uint64_t x;

				     if (!parse_u64(a, x))
					     return false;
				     co.data_offset = x;
				     return true;
			     }});
	if (ci.features & kLive)
		v.push_back({"live", 0, nullptr,
			     "read a device that is in use (a running array's\nmember): the metadata may change while it is read",
			     [&co](const char *) { co.live = true; return true; }});
	v.push_back({"quiet", 'q', nullptr, "print nothing but errors",
		     [&co](const char *) { co.quiet = true; return true; }});
	v.push_back({"verbose", 'v', nullptr, "more detail",
		     [&co](const char *) { co.verbose++; return true; }});
	(void)err;
	(void)prog;
	return v;
}

void help_line(std::ostringstream &o, const option_def &d)
{
	std::string left = d.short_name ? std::string("  -") + d.short_name + ", --" : "      --";
	left += d.name;
	if (d.arg)
		left += std::string(" ") + d.arg;
	std::string help = d.help;
	size_t pos = 0;
	bool first = true;

	do {
		size_t nl = help.find('\n', pos);
		std::string line = help.substr(pos, nl == std::string::npos ? nl : nl - pos);

		if (first && left.size() < 27)
			o << left << std::string(27 - left.size(), ' ') << line << "\n";
		else if (first)
			o << left << "\n" << std::string(27, ' ') << line << "\n";
		else
			o << std::string(27, ' ') << line << "\n";
		first = false;
		pos = nl == std::string::npos ? nl : nl + 1;
	} while (pos != std::string::npos);
}

}  // namespace

std::string usage_text(const command_info &ci, const std::vector<option_def> &opts)
{
	common_options dummy;
	std::ostringstream o, sink;

	o << "Usage: " << ci.name << " " << ci.synopsis << "\n" << ci.description << "\n\n";
	for (const option_def &d : opts)
		help_line(o, d);
	for (const option_def &d : common_defs(ci, dummy, sink))
		help_line(o, d);
	help_line(o, {"help", 'h', nullptr, "this text", nullptr});
	help_line(o, {"version", 'V', nullptr, "the version of the tools", nullptr});
	o << "\n" << ci.exit_text;
	return o.str();
}

int parse_command_line(const command_info &ci, const std::vector<option_def> &opts, int argc,
		       char **argv, common_options &co, std::vector<std::string> &args,
		       std::ostream &out, std::ostream &err)
{
	std::vector<option_def> all = opts;
	std::vector<option_def> common = common_defs(ci, co, err);
	std::vector<struct option> lopts;
	std::string shorts = ":hV";
	const int kLongBase = 256;
	int c, idx;

	co.json = ci.json_default;
	all.insert(all.end(), common.begin(), common.end());
	for (size_t i = 0; i < all.size(); i++) {
		lopts.push_back({all[i].name, all[i].arg ? required_argument : no_argument, nullptr,
				 kLongBase + static_cast<int>(i)});
		if (all[i].short_name) {
			shorts += all[i].short_name;
			if (all[i].arg)
				shorts += ':';
		}
	}
	lopts.push_back({"help", no_argument, nullptr, 'h'});
	lopts.push_back({"version", no_argument, nullptr, 'V'});
	lopts.push_back({nullptr, 0, nullptr, 0});

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts.c_str(), lopts.data(), &idx)) != -1) {
		const option_def *d = nullptr;
		std::string shown;

		switch (c) {
		case 'h':
			out << usage_text(ci, opts);
			return kExitOk;
		case 'V':
			out << ci.name << " (md-cow tools) " << COW_TOOLS_VERSION
			    << "; cow metadata format 1, dump format 1\n";
			return kExitOk;
		case '?':
			shown = optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1];
			err << ci.name << ": unknown option '" << shown << "'\n"
			    << "Try '" << ci.name << " --help'.\n";
			return kExitUsage;
		case ':':
			shown = optopt && optopt < kLongBase ? std::string("-") + static_cast<char>(optopt) :
				argv[optind - 1];
			err << ci.name << ": option '" << shown << "' needs an argument\n"
			    << "Try '" << ci.name << " --help'.\n";
			return kExitUsage;
		default:
			break;
		}
		if (c >= kLongBase) {
			d = &all[static_cast<size_t>(c - kLongBase)];
		} else {
			for (const option_def &x : all)
				if (x.short_name == c)
					d = &x;
		}
		if (!d)
			continue;
		if (!d->set(d->arg ? optarg : nullptr)) {
			err << ci.name << ": bad value '" << optarg << "' for --" << d->name;
			if (d->arg)
				err << " (" << d->arg << ")";
			err << "\n";
			return kExitUsage;
		}
	}
	args.assign(argv + optind, argv + argc);
	if (args.size() < ci.min_args || args.size() > ci.max_args) {
		err << ci.name << ": " << (args.size() < ci.min_args ? "missing" : "too many")
		    << " arguments\nUsage: " << ci.name << " " << ci.synopsis << "\n"
		    << "Try '" << ci.name << " --help'.\n";
		return kExitUsage;
	}
	return -1;
}

std::ostream &output_file::stream()
{
	if (path_.empty())
		return std_;
	if (!file_)
		file_ = std::make_unique<std::ofstream>(path_, std::ios::binary | std::ios::trunc);
	return *file_;
}

bool output_file::close(std::ostream &err, const char *prog)
{
	if (path_.empty()) {
		std_.flush();
		return output_ok(std_, err, prog, "standard output");
	}
	if (!file_)
		return true;
	errno = 0;
	file_->close();
	if (file_->fail()) {
		err << prog << ": cannot write " << path_;
		if (errno)
			err << ": " << std::strerror(errno);
		err << "\n";
		return false;
	}
	return true;
}

bool output_ok(std::ostream &out, std::ostream &err, const char *prog, const std::string &what)
{
	if (!out.fail())
		return true;
	err << prog << ": write error on " << what;
	if (errno)
		err << ": " << std::strerror(errno);
	err << "\n";
	return false;
}

namespace {

// "\rreading the chunk map (node pairs): 1200 of 33158 (3%)", at most four
// times a second; cleared when done.
class tty_progress : public cowmeta::progress {
public:
	void update(const char *what, uint64_t done, uint64_t total) override
	{
		auto now = std::chrono::steady_clock::now();

		if (shown_ && now - last_ < std::chrono::milliseconds(250))
			return;
		last_ = now;
		shown_ = true;
		if (total && done <= total)
			std::fprintf(stderr, "\r%s: %llu of %llu (%llu%%)\033[K", what,
				     static_cast<unsigned long long>(done),
				     static_cast<unsigned long long>(total),
				     static_cast<unsigned long long>(done * 100 / total));
		else
			std::fprintf(stderr, "\r%s: %llu\033[K", what,
				     static_cast<unsigned long long>(done));
		std::fflush(stderr);
	}
	void done() override
	{
		if (shown_)
			std::fprintf(stderr, "\r\033[K");
		shown_ = false;
	}

private:
	std::chrono::steady_clock::time_point last_;
	bool shown_ = false;
};

}  // namespace

std::unique_ptr<cowmeta::progress> make_progress(const common_options &co, std::ostream &err)
{
	if (co.quiet || &err != &std::cerr || !isatty(STDERR_FILENO))
		return nullptr;
	return std::make_unique<tty_progress>();
}

}  // namespace cowtools
