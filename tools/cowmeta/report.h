// report.h - severities and indented, nested report output.
//
// error_state accumulates the worst severity seen (NO_ERROR < NON_FATAL <
// FATAL) and decides a checker's exit code.  nested_output prints one line
// per message, indented by the depth of the structure being examined; a
// nest object (RAII) opens one level:
//
//	out("examining superblock");
//	{
//		auto _ = out.push();
//		out("copy A: valid");
//	}
#ifndef COWMETA_REPORT_H
#define COWMETA_REPORT_H

#include <cstdint>
#include <ostream>
#include <string>

namespace cowmeta {

enum class severity { none = 0, non_fatal = 1, fatal = 2 };

class error_state {
public:
	void add(severity s)
	{
		if (s > worst_)
			worst_ = s;
	}
	severity worst() const { return worst_; }

private:
	severity worst_ = severity::none;
};

class nested_output {
public:
	explicit nested_output(std::ostream &out, bool enabled = true, unsigned step = 2)
		: out_(out), enabled_(enabled), step_(step) {}

	class nest {
	public:
		explicit nest(nested_output &o) : o_(o) { o_.depth_++; }
		~nest() { o_.depth_--; }
		nest(const nest &) = delete;
		nest &operator=(const nest &) = delete;

	private:
		nested_output &o_;
	};

	// C++17 guaranteed elision: "auto _ = out.push();" needs no copy.
	nest push() { return nest(*this); }

	void operator()(const std::string &msg)
	{
		if (enabled_)
			out_ << std::string(depth_ * step_, ' ') << msg << '\n';
	}
	bool enabled() const { return enabled_; }

private:
	std::ostream &out_;
	bool enabled_;
	unsigned step_;
	unsigned depth_ = 0;
};

// Progress of a long operation (reading or writing a large map).  The
// commands show it on a terminal; the library only calls update(), as
// often as it likes (an implementation rate-limits), and done() at the end.
class progress {
public:
	virtual ~progress() = default;
	// @done of @total units of @what (total 0: unknown).
	virtual void update(const char *what, uint64_t done, uint64_t total) = 0;
	virtual void done() = 0;
};

}  // namespace cowmeta

#endif
