// json_reader.h - a small pull parser for JSON text (RFC 8259).
//
// The reader walks the text once and never builds a tree, so a dump with
// millions of runs costs only what the consumer keeps.  Numbers are read as
// unsigned 64-bit integers (the only kind the dump format uses); strings
// are decoded to bytes (\u0000-\u00ff become that byte, other \u escapes
// UTF-8).  Every error throws json_error with the byte offset.
#ifndef COWMETA_JSON_READER_H
#define COWMETA_JSON_READER_H

#include <cstdint>
#include <stdexcept>
#include <string>

namespace cowmeta {

class json_error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

class json_reader {
public:
	// @text must outlive the reader.
	explicit json_reader(const std::string &text) : s_(text) {}
	explicit json_reader(std::string &&) = delete;

	enum class kind { object, array, string, number, boolean, null, end };
	kind peek();			// the kind of the next value
	void begin_object();
	// Next key of the current object, false at its end (consumes '}').
	bool next_key(std::string &key);
	void begin_array();
	// True if another element follows (consumes ',' or ']').
	bool next_element();
	std::string read_string();
	uint64_t read_uint64();
	bool read_bool();
	void read_null();
	void skip_value();		// any value, depth limited
	void expect_end();		// only white space left
	[[noreturn]] void fail(const std::string &msg) const;

private:
	// Past the close char (false) or the separating comma (true).
	bool next_item(char close, const char *where);
	void ws();
	char get();
	void expect(char c);
	void skip(unsigned depth);
	uint32_t hex4();

	const std::string &s_;
	size_t pos_ = 0;
	// Per open container: has it had a member yet?
	std::string first_;
};

}  // namespace cowmeta

#endif
