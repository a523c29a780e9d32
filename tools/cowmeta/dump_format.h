// dump_format.h - the textual forms of a metadata dump.
//
// JSON (documented in Documentation/admin-guide/md-cow-tools.rst, "Dump
// format"): an object with "format": "md-cow-dump", "version": 1, a
// "superblock" object, an optional "handoff" object and a "mappings" array
// of {"origin_chunk", "slot", "length"} runs.  The human form is a summary
// and a mapping list for people; it cannot be read back.
#ifndef COWMETA_DUMP_FORMAT_H
#define COWMETA_DUMP_FORMAT_H

#include <ostream>
#include <string>

#include "cowmeta/emitter.h"

namespace cowmeta {

constexpr const char *kDumpFormatName = "md-cow-dump";
constexpr uint64_t kDumpFormatVersion = 1;

class json_emitter : public emitter {
public:
	explicit json_emitter(std::ostream &out) : out_(out) {}
	void begin(const superblock &sb) override;
	void emit_handoff(const handoff &h) override;
	void emit_run(const mapping_run &r) override;
	void end() override;

private:
	std::ostream &out_;
	bool any_run_ = false;
	bool in_mappings_ = false;
	void open_mappings();
};

class human_emitter : public emitter {
public:
	explicit human_emitter(std::ostream &out) : out_(out) {}
	void begin(const superblock &sb) override;
	void emit_handoff(const handoff &h) override;
	void emit_run(const mapping_run &r) override;
	void end() override;

private:
	std::ostream &out_;
	uint64_t runs_ = 0, chunks_ = 0;
	bool header_ = false;
};

// Parse a JSON dump and feed it to @e (after validating all of it: @e sees
// nothing if the text is bad).  Runs that continue each other (in chunks
// and slots) are merged, so @e sees the canonical runs.  Throws json_error
// with a message.
void parse_dump(const std::string &text, emitter &e);

// Checks a dump against the format rules that do not depend on a device:
// geometry valid, runs in order, inside the array, not overlapping, no slot
// used twice.  Returns an empty string or the first problem.
std::string validate_dump(const metadata_dump &d);

// JSON string literal (with quotes) for arbitrary bytes: printable ASCII as
// is, other bytes as \u00XX.
std::string json_quote(const std::string &bytes);

}  // namespace cowmeta

#endif
