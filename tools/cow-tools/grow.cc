// grow.cc - cow_grow: grow a cow array's dirty device, an LVM logical
// volume, while md/cow/state is low or full (mdadm --monitor runs it, like
// LVM's thin_pool_autoextend runs lvextend --use-policies).
#include "grow.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "commands.h"
#include "cowmeta/strf.h"

namespace cowtools {
namespace grow {

namespace {

const char kProg[] = "cow_grow";

const command_info kInfo = {
	"cow_grow", "[--step=N%|SIZE] [--max=SIZE] [--dry-run] [options] MD_DEVICE",
	"Grow the dirty device of the running cow array MD_DEVICE (/dev/md/NAME,\n"
	"/dev/mdN or mdN) while its md/cow/state is low or full: extend the LVM\n"
	"logical volume it is (lvextend --size) and let md take the new space\n"
	"(mdadm --grow --size=max), one step at a time, until the state is ok\n"
	"(at most 64 steps).  mdadm --monitor runs it for the arrays that have a\n"
	"COW-GROW line in mdadm.conf, like LVM's thin_pool_autoextend.  One line\n"
	"per step on standard output; lvextend and mdadm are looked up in PATH and\n"
	"their messages go to standard error.  Nothing is done when the state is\n"
	"ok; growing does not help when it is needs-check, read-only or failed.\n"
	"SIZE: a number with a suffix K, M, G or T (powers of 1024), S (512-byte\n"
	"sectors) or B (bytes); without a suffix, MiB (as lvextend -L).",
	"Exit: 0 grown, or nothing to do (state ok, or --dry-run); 1 a step failed\n"
	"(lvextend, mdadm, or md did not take the space), the dirty device is at\n"
	"--max, or the state is still low after 64 steps; 2 not applicable: not a\n"
	"cow array, the dirty device is not an LVM logical volume, or the state is\n"
	"needs-check, read-only or failed; 3 usage error or a write error on\n"
	"standard output.\n",
	0, false, 1, 1,
};

std::string read_line(const std::string &path, bool *ok = nullptr)
{
	std::ifstream f(path);
	std::string s;

	if (ok)
		*ok = static_cast<bool>(f);
	std::getline(f, s);
	return s;
}

bool read_u64(const std::string &path, uint64_t &v)
{
	std::string s = read_line(path);

	return !s.empty() && parse_u64(s.c_str(), v);
}

std::string basename_of(const std::string &p)
{
	size_t end = p.find_last_not_of('/');

	if (end == std::string::npos)
		return p;
	size_t slash = p.rfind('/', end);
	return p.substr(slash == std::string::npos ? 0 : slash + 1,
			slash == std::string::npos ? end + 1 : end - slash);
}

std::string join(const std::vector<std::string> &argv)
{
	std::string s;

	for (const std::string &a : argv)
		s += (s.empty() ? "" : " ") + a;
	return s;
}

// How a command ended, for a message: "failed with exit status 5".
std::string outcome_text(const std::string &name, int status)
{
	if (status < 0)
		return "cannot run " + name + ": " + std::strerror(-status) +
		       (status == -ENOENT ? " (not in PATH?)" : "");
	if (status > 128 && status < 128 + 65)
		return name + " failed with exit status " + std::to_string(status) + " (killed by signal " +
		       std::to_string(status - 128) + "?)";
	return name + " failed with exit status " + std::to_string(status);
}

// The kernel name of MD_DEVICE: "md127" for /dev/md/NAME, /dev/md127, md127.
bool md_name(const std::string &arg, std::string &md, std::ostream &err)
{
	if (arg.find('/') == std::string::npos) {
		md = arg;
		return true;
	}
	char buf[PATH_MAX];
	if (!realpath(arg.c_str(), buf)) {
		err << kProg << ": " << arg << ": " << std::strerror(errno) << "\n";
		return false;
	}
	md = basename_of(buf);
	return true;
}

// The kernel name of the only member of @md ("dm-3"), from
// md/dev-*/block (a symlink to its /sys/block directory).
bool member_name(const std::string &mddir, const std::string &md, std::string &name, std::ostream &err)
{
	std::vector<std::string> devs;

	if (DIR *dir = opendir(mddir.c_str())) {
		while (struct dirent *e = readdir(dir))
			if (!std::string(e->d_name).compare(0, 4, "dev-"))
				devs.push_back(e->d_name);
		closedir(dir);
	}
	if (devs.size() != 1) {
		err << kProg << ": " << md << ": " << devs.size()
		    << " members in sysfs (md/dev-*), a cow array has one: its dirty device\n";
		return false;
	}
	char buf[PATH_MAX];
	ssize_t n = readlink((mddir + devs[0] + "/block").c_str(), buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		name = basename_of(buf);
	} else {
		name = devs[0].substr(4);
	}
	return true;
}

bool is_bad_state(const std::string &s, std::string &why)
{
	if (s == "needs-check")
		why = "metadata damage was seen; stop the array and run cow_check";
	else if (s == "read-only")
		why = "unknown ro_compat features";
	else if (s == "failed")
		why = "a write to the dirty device or a commit failed";
	else
		return false;
	return true;
}

}  // namespace

bool parse_size(const std::string &s, uint64_t &bytes)
{
	size_t i = 0;
	uint64_t n = 0;

	while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
		unsigned d = static_cast<unsigned>(s[i] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
		i++;
	}
	if (i == 0)
		return false;	// empty, a sign, garbage
	std::string suffix;
	for (; i < s.size(); i++)
		suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
	uint64_t mult;
	if (suffix.empty())
		mult = 1ULL << 20;
	else if (suffix == "b")
		mult = 1;
	else if (suffix == "s")
		mult = 512;
	else {
		static const char kUnits[] = "kmgt";
		const char *u = std::strchr(kUnits, suffix[0]);
		std::string rest = suffix.substr(1);

		if (!u || !*u || !(rest.empty() || rest == "ib" || rest == "b"))
			return false;
		mult = 1ULL << (10 * (u - kUnits + 1));
	}
	if (n == 0 || n > UINT64_MAX / mult)
		return false;
	bytes = n * mult;
	return true;
}

bool parse_step(const std::string &s, step &st)
{
	if (!s.empty() && s.back() == '%') {
		std::string num = s.substr(0, s.size() - 1);
		uint64_t v = 0;

		if (num.empty() || num.size() > 4 || num.find_first_not_of("0123456789") != std::string::npos)
			return false;
		v = std::strtoull(num.c_str(), nullptr, 10);
		if (v < 1 || v > 1000)
			return false;
		st.percent = true;
		st.value = v;
		return true;
	}
	uint64_t b;
	if (!parse_size(s, b))
		return false;
	st.percent = false;
	st.value = b;
	return true;
}

uint64_t next_size(uint64_t current, const step &st, uint64_t max)
{
	const uint64_t kSectorMask = ~static_cast<uint64_t>(511);
	uint64_t add = st.value;

	if (st.percent) {
		unsigned __int128 a = static_cast<unsigned __int128>(current) * st.value / 100;

		add = a > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(a);
	}
	if (add < kMinStep)
		add = kMinStep;
	uint64_t limit = (max ? max : UINT64_MAX) & kSectorMask;
	uint64_t target = add > UINT64_MAX - current ? UINT64_MAX : current + add;
	target = target > (UINT64_MAX & kSectorMask) ? (UINT64_MAX & kSectorMask) : (target + 511) & kSectorMask;
	if (target > limit)
		target = limit;
	return target > current ? target : current;
}

std::string human_size(uint64_t bytes)
{
	static const char *const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = static_cast<double>(bytes);
	int u = 0;

	if (bytes < 1024)
		return std::to_string(bytes) + " B";
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	return cowmeta::strf("%.1f %s", v, kUnits[u]);
}

std::string lv_name(const std::string &dm_name)
{
	std::string parts[2];
	int part = 0;

	for (size_t i = 0; i < dm_name.size(); i++) {
		if (dm_name[i] != '-') {
			parts[part] += dm_name[i];
		} else if (i + 1 < dm_name.size() && dm_name[i + 1] == '-') {
			parts[part] += '-';
			i++;
		} else if (part == 0) {
			part = 1;
		} else {
			return dm_name;	// a third part: a layer ("-real", "-tpool")
		}
	}
	if (part == 0 || parts[0].empty() || parts[1].empty())
		return dm_name;
	return parts[0] + "/" + parts[1];
}

int exec_command(const std::vector<std::string> &argv)
{
	std::vector<std::string> args = argv;
	std::vector<char *> a;
	int pfd[2];

	if (argv.empty())
		return -EINVAL;
	for (std::string &s : args)
		a.push_back(s.data());
	a.push_back(nullptr);
	// The child reports a failed exec through the close-on-exec pipe.
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		close(pfd[0]);
		if (nul >= 0 && nul != STDIN_FILENO) {
			dup2(nul, STDIN_FILENO);
			close(nul);
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
		// mdadm --monitor may run us without a PATH, and with its
		// descriptors open (LVM warns of each).
		if (!getenv("PATH"))
			setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
		setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
		execvp(a[0], a.data());
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (n == static_cast<ssize_t>(sizeof(e)))
		return -e;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -EIO;
}

int run_grow(int argc, char **argv, std::ostream &out, std::ostream &err, const command_runner &run)
{
	std::string sys = "/sys";
	step st;
	uint64_t max = 0;
	bool dry_run = false;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"step", 0, "N%|SIZE",
		 "grow by N percent of the dirty device's size\n"
		 "(1%..1000%), or by SIZE; at least 1 MiB\n"
		 "(default 20%)",
		 [&](const char *a) { return parse_step(a, st); }},
		{"max", 0, "SIZE",
		 "never grow the dirty device beyond SIZE\n"
		 "(default: no limit)",
		 [&](const char *a) { return parse_size(a, max); }},
		{"dry-run", 0, nullptr,
		 "print the commands of the first step\n"
		 "(\"would run: ...\") and run nothing",
		 [&](const char *) { dry_run = true; return true; }},
		{"sysfs", 0, "DIR", "read sysfs from DIR (default /sys; for tests)",
		 [&](const char *a) { sys = a; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;

	std::string md;
	if (!md_name(args[0], md, err))
		return kExitFatal;
	const std::string mddir = sys + "/block/" + md + "/md/";
	bool ok;
	std::string level = read_line(mddir + "level", &ok);
	if (!ok) {
		err << kProg << ": " << md << " is not a running md array (no " << mddir << "level)\n";
		return kExitFatal;
	}
	if (level != "cow") {
		err << kProg << ": " << md << " is not a cow array (md level " << (level.empty() ? "none" : level)
		    << ")\n";
		return kExitFatal;
	}
	std::string dm;
	if (!member_name(mddir, md, dm, err))
		return kExitFatal;
	const std::string dmdir = sys + "/block/" + dm + "/";
	if (read_line(dmdir + "dm/uuid").compare(0, 4, "LVM-")) {
		err << kProg << ": dirty device " << dm << " of " << md
		    << " is not an LVM logical volume: cow_grow cannot grow it\n";
		return kExitFatal;
	}
	const std::string dm_name = read_line(dmdir + "dm/name");
	if (dm_name.empty()) {
		err << kProg << ": cannot read the device-mapper name of " << dm << " (" << dmdir << "dm/name)\n";
		return kExitFatal;
	}
	const std::string lv_path = "/dev/mapper/" + dm_name;
	const std::string vg_lv = lv_name(dm_name);
	const std::string pre = std::string(kProg) + ": " + md + ": ";

	rc = kExitOk;
	for (unsigned steps = 0;; steps++) {
		std::string state = read_line(mddir + "cow/state"), why;
		uint64_t sectors, used = 0, total = 0;

		if (state == "ok") {
			if (!steps && co.verbose && !co.quiet)
				out << pre << "state ok: nothing to do\n";
			break;
		}
		if (is_bad_state(state, why)) {
			err << pre << "state " << state << " (" << why << "): growing the dirty device does not help\n";
			rc = kExitFatal;
			break;
		}
		if (state != "low" && state != "full") {
			err << pre << "unknown state '" << state << "' in " << mddir << "cow/state\n";
			rc = kExitFatal;
			break;
		}
		if (steps == kMaxSteps) {
			err << pre << "still " << state << " after " << kMaxSteps << " steps: not grown further\n";
			rc = kExitNonFatal;
			break;
		}
		if (!read_u64(dmdir + "size", sectors) || sectors > UINT64_MAX / 512 ||
		    !read_u64(mddir + "cow/total_slots", total)) {
			err << pre << "cannot read the size of " << dm << " (" << dmdir
			    << "size) or md/cow/total_slots\n";
			rc = kExitNonFatal;
			break;
		}
		read_u64(mddir + "cow/used_slots", used);
		const uint64_t old_bytes = sectors * 512;
		const uint64_t target = next_size(old_bytes, st, max);
		if (co.verbose && !co.quiet)
			out << pre << "state " << state << ": dirty device " << dm_name << " (" << dm << ") is "
			    << human_size(old_bytes) << ", " << used << " of " << total << " slots in use\n";
		if (target <= old_bytes) {
			err << pre << "dirty device " << vg_lv << " is at the maximum size of "
			    << human_size(max ? max : old_bytes)
			    << ": not grown\n";
			rc = kExitNonFatal;
			break;
		}
		const std::vector<std::string> lvextend = {"lvextend", "--size", std::to_string(target) + "b",
							   lv_path};
		const std::vector<std::string> mdadm = {"mdadm", "--grow", "--size=max", "/dev/" + md};
		if (dry_run) {
			out << pre << "would run: " << join(lvextend) << "\n"
			    << pre << "would run: " << join(mdadm) << "\n";
			break;
		}
		bool failed = false;
		for (const std::vector<std::string> *cmd : {&lvextend, &mdadm}) {
			if (co.verbose && !co.quiet)
				out << pre << "running: " << join(*cmd) << "\n";
			// Our lines first, then what the command prints.
			out.flush();
			err.flush();
			int status = run(*cmd);
			if (status) {
				err << pre << outcome_text((*cmd)[0], status);
				if (cmd == &mdadm)
					err << ": " << vg_lv << " was extended but md did not take the space";
				err << "\n";
				failed = true;
				break;
			}
		}
		if (failed) {
			rc = kExitNonFatal;
			break;
		}
		uint64_t new_sectors = 0, new_total = 0;
		read_u64(dmdir + "size", new_sectors);
		read_u64(mddir + "cow/total_slots", new_total);
		read_u64(mddir + "cow/used_slots", used);
		// Never go on growing the volume when md does not take the space.
		if (new_total <= total) {
			err << pre << "md did not take the new space: md/cow/total_slots is still " << total
			    << " after lvextend and mdadm --grow\n";
			rc = kExitNonFatal;
			break;
		}
		if (!co.quiet)
			out << pre << "dirty device " << dm_name << " grown from " << human_size(old_bytes) << " to "
			    << human_size(new_sectors * 512) << " (" << used << " of " << new_total
			    << " slots in use)\n";
	}
	out.flush();
	if (!output_ok(out, err, kProg, "standard output"))
		return kExitUsage;
	return rc;
}

}  // namespace grow

int cmd_grow(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	return grow::run_grow(argc, argv, out, err, grow::exec_command);
}

}  // namespace cowtools
