#!/bin/bash
# Build the libFuzzer targets with clang++ (ASan + UBSan) into build/fuzz and
# run each for a bounded time on its seed corpus (tools/fuzz/corpus/<target>,
# copied to build/fuzz/work/<target> so that new inputs stay out of the
# source tree).  Any crash, leak, sanitizer report or timeout fails.
#
# Usage: tools/fuzz/run.sh [-t SECONDS] [--seeds] [TARGET...]
#   -t SECONDS  per target (default $COW_FUZZ_TIME or 20)
#   --seeds     regenerate tools/fuzz/corpus with the seed generator and exit
#   TARGET      superblock, node, dump, image (default: all)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B="$TOP/build/fuzz"
T=${COW_FUZZ_TIME:-20}
CXX=${COW_FUZZ_CXX:-clang++-14}
seeds=""
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t) T=$2; shift 2 ;;
	--seeds) seeds=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(superblock node dump image)
command -v "$CXX" >/dev/null || { echo "run.sh: $CXX not found" >&2; exit 77; }

. "$TOP/scripts/ccache-env"
cmake -S "$TOP/tools" -B "$B" -DCOW_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX" \
	-DCMAKE_CXX_COMPILER_LAUNCHER="$MDCOW_CCACHE" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j2 -- --no-print-directory >/dev/null

if [ -n "$seeds" ]; then
	rm -rf "$TOP/tools/fuzz/corpus"
	"$B/fuzz_seeds" "$TOP/tools/fuzz/corpus"
	exit 0
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fail=0
for t in "${targets[@]}"; do
	work="$B/work/$t"
	rm -rf "$work" "$B/artifacts/$t"
	mkdir -p "$work" "$B/artifacts/$t"
	cp "$TOP/tools/fuzz/corpus/$t"/* "$work"/
	opts=(-max_total_time="$T" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
	      -artifact_prefix="$B/artifacts/$t/")
	case "$t" in
	dump) opts+=(-dict="$TOP/tools/fuzz/dump.dict" -max_len=8192) ;;
	image) opts+=(-max_len=262144) ;;
	*) opts+=(-max_len=4096) ;;
	esac
	echo "fuzz_$t: ${T}s"
	if ! "$B/fuzz_$t" "${opts[@]}" "$work" > "$B/fuzz_$t.log" 2>&1; then
		echo "FAIL: fuzz_$t found a problem (build/fuzz/fuzz_$t.log, artifacts in build/fuzz/artifacts/$t):"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$B/fuzz_$t.log" | head -n 20
		fail=1
		continue
	fi
	grep -E '^stat::number_of_executed_units|^Done' "$B/fuzz_$t.log" | tr '\n' ' '
	echo
done
exit $fail
