// dump.cc - cow_dump: write the metadata as JSON or for people.
#include <sstream>

#include "commands.h"
#include "cowmeta/dump_format.h"
#include "cowmeta/metadata_reader.h"

namespace cowtools {

namespace {

const command_info kInfo = {
	"cow_dump", "[options] DEV",
	"Dump the cow metadata on DEV (a cow dirty device or an image of it).",
	"Exit: 0 dumped, 1 (--repair) dumped with losses, 2 the metadata has fatal\n"
	"damage (nothing written), 3 usage or I/O error (a write error included).\n",
	kFormat | kOutput | kDataOffset | kLive, true, 1, 1,
};

// Creates the real emitter (and with it the output file) at begin(): the
// reader calls begin() only after a strict check passed, so a refused
// dump neither creates nor truncates the output.  The dump streams: runs
// go out as the map walk finds them.
class deferred_emitter : public cowmeta::emitter {
public:
	deferred_emitter(output_file &of, bool json) : of_(of), json_(json) {}
	void begin(const cowmeta::superblock &sb) override
	{
		if (json_)
			e_ = std::make_unique<cowmeta::json_emitter>(of_.stream());
		else
			e_ = std::make_unique<cowmeta::human_emitter>(of_.stream());
		e_->begin(sb);
	}
	void emit_handoff(const cowmeta::handoff &h) override { e_->emit_handoff(h); }
	void emit_run(const cowmeta::mapping_run &r) override { e_->emit_run(r); }
	void end() override { e_->end(); }

private:
	output_file &of_;
	bool json_;
	std::unique_ptr<cowmeta::emitter> e_;
};

}  // namespace

int cmd_dump(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	bool repair = false;
	common_options co;
	std::vector<std::string> args;
	const std::vector<option_def> opts = {
		{"repair", 'r', nullptr, "dump what can be read from damaged metadata",
		 [&](const char *) { repair = true; return true; }},
	};
	int rc = parse_command_line(kInfo, opts, argc, argv, co, args, out, err);

	if (rc >= 0)
		return rc;
	opened_dirty od;
	if (!open_dirty(args[0], false, co, od, err, "cow_dump"))
		return kExitUsage;

	output_file of(out, co.output);
	deferred_emitter e(of, co.json);
	std::ostringstream sink;
	cowmeta::nested_output log(co.quiet ? sink : err);
	std::unique_ptr<cowmeta::progress> prog = make_progress(co, err);
	cowmeta::read_result r = cowmeta::read_metadata(*od.area, od.layout, e, repair, log, prog.get());
	if (!of.close(err, "cow_dump"))
		return kExitUsage;
	if (!r.ok) {
		err << "cow_dump: " << args[0] << ": " << r.err << "\n";
		return kExitFatal;
	}
	return repair && (r.lost_chunks || r.dropped || r.fixed) ? kExitNonFatal : kExitOk;
}

}  // namespace cowtools
