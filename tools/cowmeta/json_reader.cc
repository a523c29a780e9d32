// json_reader.cc - JSON pull parser.
#include "cowmeta/json_reader.h"

namespace cowmeta {

namespace {

constexpr unsigned kMaxDepth = 64;

}  // namespace

void json_reader::fail(const std::string &msg) const
{
	throw json_error("JSON error at byte " + std::to_string(pos_) + ": " + msg);
}

void json_reader::ws()
{
	while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
				    s_[pos_] == '\n' || s_[pos_] == '\r'))
		pos_++;
}

char json_reader::get()
{
	if (pos_ >= s_.size())
		fail("unexpected end of text");
	return s_[pos_++];
}

void json_reader::expect(char c)
{
	ws();
	if (get() != c)
		fail(std::string("expected '") + c + "'");
}

json_reader::kind json_reader::peek()
{
	ws();
	if (pos_ >= s_.size())
		return kind::end;
	switch (s_[pos_]) {
	case '{': return kind::object;
	case '[': return kind::array;
	case '"': return kind::string;
	case 't': case 'f': return kind::boolean;
	case 'n': return kind::null;
	default:
		if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9'))
			return kind::number;
	}
	fail("unexpected character");
}

void json_reader::begin_object()
{
	if (first_.size() >= kMaxDepth)
		fail("nested too deeply");
	expect('{');
	first_.push_back(1);
}

bool json_reader::next_item(char close, const char *where)
{
	ws();
	if (first_.empty())
		fail(where);
	if (pos_ < s_.size() && s_[pos_] == close) {
		pos_++;
		first_.pop_back();
		return false;
	}
	if (!first_.back())
		expect(',');
	first_.back() = 0;
	return true;
}

bool json_reader::next_key(std::string &key)
{
	if (!next_item('}', "not in an object"))
		return false;
	ws();
	if (peek() != kind::string)
		fail("expected a key");
	key = read_string();
	expect(':');
	return true;
}

void json_reader::begin_array()
{
	if (first_.size() >= kMaxDepth)
		fail("nested too deeply");
	expect('[');
	first_.push_back(1);
}

bool json_reader::next_element()
{
	return next_item(']', "not in an array");
}

uint32_t json_reader::hex4()
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = get();

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= static_cast<uint32_t>(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= static_cast<uint32_t>(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= static_cast<uint32_t>(c - 'A' + 10);
		else
			fail("bad \\u escape");
	}
	return v;
}

std::string json_reader::read_string()
{
	std::string out;

	expect('"');
	for (;;) {
		char c = get();

		if (c == '"')
			return out;
		if (static_cast<unsigned char>(c) < 0x20)
			fail("control character in a string");
		if (c != '\\') {
			out.push_back(c);
			continue;
		}
		switch (c = get()) {
		case '"': case '\\': case '/': out.push_back(c); break;
		case 'b': out.push_back('\b'); break;
		case 'f': out.push_back('\f'); break;
		case 'n': out.push_back('\n'); break;
		case 'r': out.push_back('\r'); break;
		case 't': out.push_back('\t'); break;
		case 'u': {
			uint32_t u = hex4();

			if (u <= 0xff) {
				out.push_back(static_cast<char>(u));
			} else if (u < 0x800) {
				out.push_back(static_cast<char>(0xc0 | u >> 6));
				out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
			} else {
				out.push_back(static_cast<char>(0xe0 | u >> 12));
				out.push_back(static_cast<char>(0x80 | (u >> 6 & 0x3f)));
				out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
			}
			break;
		}
		default:
			fail("bad escape");
		}
	}
}

uint64_t json_reader::read_uint64()
{
	uint64_t v = 0;
	size_t start;

	ws();
	start = pos_;
	if (pos_ < s_.size() && s_[pos_] == '-')
		fail("negative number where an unsigned integer is expected");
	while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
		unsigned d = static_cast<unsigned>(s_[pos_] - '0');

		if (v > (UINT64_MAX - d) / 10)
			fail("number does not fit in 64 bits");
		v = v * 10 + d;
		pos_++;
	}
	if (pos_ == start)
		fail("expected a number");
	if (pos_ - start > 1 && s_[start] == '0')
		fail("leading zero in a number");
	if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
		fail("expected an unsigned integer");
	return v;
}

bool json_reader::read_bool()
{
	ws();
	if (s_.compare(pos_, 4, "true") == 0) {
		pos_ += 4;
		return true;
	}
	if (s_.compare(pos_, 5, "false") == 0) {
		pos_ += 5;
		return false;
	}
	fail("expected true or false");
}

void json_reader::read_null()
{
	ws();
	if (s_.compare(pos_, 4, "null") != 0)
		fail("expected null");
	pos_ += 4;
}

void json_reader::skip(unsigned depth)
{
	std::string key;

	if (depth > kMaxDepth)
		fail("nested too deeply");
	switch (peek()) {
	case kind::object:
		begin_object();
		while (next_key(key))
			skip(depth + 1);
		break;
	case kind::array:
		begin_array();
		while (next_element())
			skip(depth + 1);
		break;
	case kind::string:
		read_string();
		break;
	case kind::number:
		// Any JSON number: sign, digits, fraction, exponent.
		ws();
		if (s_[pos_] == '-')
			pos_++;
		if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9')
			fail("bad number");
		while (pos_ < s_.size() && ((s_[pos_] >= '0' && s_[pos_] <= '9') ||
					    s_[pos_] == '.' || s_[pos_] == 'e' ||
					    s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
			pos_++;
		break;
	case kind::boolean:
		read_bool();
		break;
	case kind::null:
		read_null();
		break;
	case kind::end:
		fail("unexpected end of text");
	}
}

void json_reader::skip_value()
{
	skip(0);
}

void json_reader::expect_end()
{
	ws();
	if (pos_ != s_.size())
		fail("trailing characters after the document");
}

}  // namespace cowmeta
