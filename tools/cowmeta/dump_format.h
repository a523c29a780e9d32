// dump_format.h - the textual forms of a metadata dump.
//
// JSON (documented in Documentation/admin-guide/md-cow-tools.rst, "Dump
// format"): an object with "format": "md-cow-dump", "version": 1 (2 for a
// format 2 array, 3 for one with the clean chunks feature), a "superblock"
// object, an optional "handoff" object and a "mappings" array of
// {"origin_chunk", "slot", "length"} runs, with "missing" (the missing
// sub-chunks of each chunk of the run) where it is not 0, runs of zero
// chunks (format 2) as {"origin_chunk", "length", "zero": true}, without
// "slot", and runs of clean chunks (kIncompatClean) with "clean": true.
// A reader of version 1 refuses version 2, so a tool that would drop
// "missing" never restores a format 2 dump; a reader that does not know
// "zero" refuses a zero run for its lack of "slot"; a reader of version 2
// refuses version 3, so a tool that would restore a clean run as written
// data never does.  The human form is a
// summary and a mapping list for people; it cannot be read back.
#ifndef COWMETA_DUMP_FORMAT_H
#define COWMETA_DUMP_FORMAT_H

#include <ostream>
#include <string>

#include "cowmeta/emitter.h"

namespace cowmeta {

constexpr const char *kDumpFormatName = "md-cow-dump";
constexpr uint64_t kDumpFormatVersion = 1;	// format 1 arrays
constexpr uint64_t kDumpFormatVersion2 = 2;	// format 2: runs may have "missing"
constexpr uint64_t kDumpFormatVersion3 = 3;	// clean chunks: runs may be "clean"

// The dump version written for a superblock: 3 with the clean chunks
// feature, else 2 for a format 2 array.
inline uint64_t dump_version_for(const superblock &sb)
{
	return (sb.incompat & kIncompatClean) ? kDumpFormatVersion3 :
	       format_of(sb.incompat) >= 2 ? kDumpFormatVersion2 : kDumpFormatVersion;
}

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
	uint64_t runs_ = 0, chunks_ = 0, partial_ = 0, zero_ = 0, clean_ = 0;
	bool header_ = false;
};

// Parse a JSON dump and feed it to @e (after validating all of it: @e sees
// nothing if the text is bad).  Runs that continue each other (in chunks
// and slots) are merged, so @e sees the canonical runs.  Throws json_error
// with a message.
void parse_dump(const std::string &text, emitter &e);

// Checks a dump against the format rules that do not depend on a device:
// geometry valid, runs in order, inside the array, not overlapping, no slot
// used twice, missing sub-chunks only in format 2 and valid for every chunk
// of their run (leaf_missing_check()), zero runs only in format 2 and
// without slot or missing sub-chunks, clean runs only with the clean
// chunks feature (format 2), in an array with an origin, and without
// missing sub-chunks.  Returns an empty string or the first problem.
std::string validate_dump(const metadata_dump &d);

// JSON string literal (with quotes) for arbitrary bytes: printable ASCII as
// is, other bytes as \u00XX.
std::string json_quote(const std::string &bytes);

}  // namespace cowmeta

#endif
