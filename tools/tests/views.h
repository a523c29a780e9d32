// views.h - reading a whole image the way the commands do, for the tests.
#ifndef COWMETA_TESTS_VIEWS_H
#define COWMETA_TESTS_VIEWS_H

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cowmeta/checker.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/json_reader.h"
#include "cowmeta/metadata_reader.h"
#include "cowmeta/restore.h"

namespace cowtest {

// md's data area of an image, located through its md superblock.
struct device_view {
	cowmeta::dirty_layout layout;
	std::unique_ptr<cowmeta::data_area> area;

	explicit device_view(cowmeta::block_device &dev)
	{
		std::string err;

		EXPECT_TRUE(cowmeta::locate_data_area(dev, std::nullopt, layout, err)) << err;
		area = std::make_unique<cowmeta::data_area>(dev, layout.data_offset * 512,
							    layout.data_sectors / 8);
	}
};

// cow_dump (strict) or cow_dump --repair (@salvage) into memory.
inline cowmeta::metadata_dump dump_of(cowmeta::block_device &dev, bool salvage = false,
				      cowmeta::read_result *res = nullptr)
{
	device_view v(dev);
	cowmeta::dump_collector c;
	std::ostringstream o;
	cowmeta::nested_output log(o);
	cowmeta::read_result r = cowmeta::read_metadata(*v.area, v.layout, c, salvage, log);

	EXPECT_TRUE(r.ok) << r.err << o.str();
	if (res)
		*res = r;
	return c.d;
}

// cow_check, the report in @text.
inline cowmeta::check_result check_of(cowmeta::block_device &dev, std::string *text = nullptr)
{
	device_view v(dev);
	std::ostringstream o;
	cowmeta::nested_output out(o);
	cowmeta::check_result r =
		cowmeta::check_metadata(*v.area, v.layout, out, cowmeta::check_options());

	if (text)
		*text = o.str();
	return r;
}

// A dump as cow_dump prints it (JSON).
inline std::string json_of(const cowmeta::metadata_dump &d)
{
	std::ostringstream o;
	cowmeta::json_emitter e(o);

	cowmeta::emit_dump(d, e);
	return o.str();
}

// Why parse_dump() refuses @text, or "" (then @runs, if given, has its
// runs).
inline std::string parse_error(const std::string &text,
			       std::vector<cowmeta::mapping_run> *runs = nullptr)
{
	cowmeta::dump_collector c;

	try {
		cowmeta::parse_dump(text, c);
	} catch (const cowmeta::json_error &e) {
		return e.what();
	}
	if (runs)
		*runs = c.d.runs;
	return "";
}

}  // namespace cowtest

#endif
