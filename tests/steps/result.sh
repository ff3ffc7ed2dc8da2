#!/usr/bin/env bash
# Reports, as a ctest test, how one of scripts/test's pre-ctest steps ended
# (fuzz, valgrind, the ASan+UBSan suite), so that a failed step is named in
# ctest's summary, the last thing CI prints.
#   tests/steps/result.sh <steps dir> <step> <module.so>
# scripts/test writes <steps dir>/<step>.rc and .log. Skipped (exit 77) when
# the step did not run in the last scripts/test, or ran before the module
# was last rebuilt (its result would say nothing about this build).
set -euo pipefail
dir=$1 step=$2 module=$3
rc_file=$dir/$step.rc log=$dir/$step.log
if [ ! -f "$rc_file" ]; then
  echo "$step: not run by the last scripts/test (only a full run without ctest arguments runs it)"
  exit 77
fi
if [ -f "$module" ] && [ "$rc_file" -ot "$module" ]; then
  echo "$step: result predates the current module build; rerun scripts/test"
  exit 77
fi
rc=$(cat "$rc_file")
when=$(date -r "$rc_file" '+%F %T')
if [ "$rc" = 0 ]; then
  echo "$step: passed in scripts/test at $when: $(grep -v '^$' "$log" | tail -1)"
  # tests/sanitize/run.sh gives a failed test a second run; name the ones that needed it
  grep -E 'Test +#[0-9]+: .*\*\*\*(Failed|Timeout|Exception)' "$log" | sed 's/^/passed on its second run: /' || true
  exit 0
fi
echo "$step: FAILED (exit $rc) in scripts/test at $when; the end of $log:"
# The lines that say what failed, then the tail.
grep -E 'FAILED|Failed|failed|ERROR|SUMMARY|reproducers|sanitizer reports|\*\*\*' "$log" | tail -40 || true
echo "----"
tail -60 "$log"
exit 1
