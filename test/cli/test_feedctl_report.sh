#!/bin/sh
# test_feedctl_report.sh FEEDCTL SOURCE_DIR - `feedctl report` on the fixture events log
# test/fixtures/tokens/events.jsonl: the table and JSON outputs compared byte for byte with the
# golden files next to it (FMX_UPDATE_GOLDEN=1 rewrites them; review the diff), --since in its
# three forms, malformed lines skipped and counted, and the usage errors.
#
# The fixture: home/follows 10 impressions + 3 clicks on 2026-01-01 (5+1 control, 5+2 treatment of
# ranker_test) plus 1 + 1 older, on 2025-12-29; home/trending 5 + 0 (control); shop/catalog 4 + 4
# carousel children (no experiment); shop/`new "sellers" é` 1 + 0; one `share` event; 9 malformed
# lines (not JSON, missing fields, wrong types, trailing bytes, a NUL) and a trailing empty line.
set -u
FEEDCTL=${1:?usage: test_feedctl_report.sh FEEDCTL SOURCE_DIR}
SRC=${2:?usage: test_feedctl_report.sh FEEDCTL SOURCE_DIR}
FIX=$SRC/test/fixtures/tokens
EXPECT_DIR=$FIX  # the log's name in the output is stable
. "$SRC/test/cli/lib.sh"  # TMP, fail, expect, has, finish

golden() {
    if [ "${FMX_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$TMP/out" "$FIX/$1"
        echo "updated $FIX/$1"
    elif ! diff -u "$FIX/$1" "$TMP/out" >&2; then
        fail "$2 differs from $FIX/$1 (FMX_UPDATE_GOLDEN=1 regenerates)"
    fi
}

# --- everything, then since 2026-01-01 in each form ---------------------------------------------
expect 0 "report all" "$FEEDCTL" report --events events.jsonl && golden report_all.txt "report all" &&
    has "$TMP/err" "skipped 9 malformed lines" "report all"
expect 0 "report since date" "$FEEDCTL" report --events events.jsonl --since 2026-01-01 &&
    golden report_since.txt "report since date"
expect 0 "report since date (json)" "$FEEDCTL" report --events events.jsonl --since 2026-01-01T00:00:00Z --json &&
    golden report_since.json "report since (json)"
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out" || fail "report --json is not JSON"
fi
expect 0 "report since unix" "$FEEDCTL" report --events events.jsonl --since 1767225600 &&
    has "$TMP/out" "home  follows                   10       3   30.00%  [10.78%, 60.32%]" "since unix"
# A duration back from now: the fixture is in the past, so nothing is recent.
expect 0 "report since 1h" "$FEEDCTL" report --events events.jsonl --since 1h &&
    has "$TMP/out" ": 0 impressions, 0 clicks (39 lines; skipped 9 malformed, 30 older, 0 other events)" "since 1h"
# stdin
(cd "$FIX" && "$FEEDCTL" report --events - --json <events.jsonl) >"$TMP/out" 2>"$TMP/err" || fail "report stdin"
has "$TMP/out" '"impressions": 21,' "report stdin"

# --- robustness ---------------------------------------------------------------------------------
: >"$TMP/empty.jsonl"
expect 0 "report empty" "$FEEDCTL" report --events "$TMP/empty.jsonl" --json &&
    has "$TMP/out" '"by_source": [],' "report empty"
# A 100 KB line and binary junk are skipped, the good line after them counts.
{
    head -c 100000 /dev/zero | tr '\0' 'x'
    echo
    printf '\001\002\377\n'
    grep -a -m1 '"event":"click"' "$FIX/events.jsonl"
} >"$TMP/junk.jsonl"
expect 0 "report junk" "$FEEDCTL" report --events "$TMP/junk.jsonl" --json &&
    has "$TMP/out" '"malformed": 2,' "report junk" && has "$TMP/out" '"clicks": 1,' "report junk"

# --- usage --------------------------------------------------------------------------------------
expect 1 "report missing file" "$FEEDCTL" report --events "$TMP/nowhere.jsonl" &&
    has "$TMP/err" "cannot open" "report missing file"
expect 2 "report bad since" "$FEEDCTL" report --events events.jsonl --since yesterday &&
    has "$TMP/err" "--since wants" "report bad since"
expect 2 "report stray argument" "$FEEDCTL" report --events events.jsonl extra
expect 2 "report unknown option" "$FEEDCTL" report --bogus
expect 0 "report --help" "$FEEDCTL" report --help && has "$TMP/out" "usage: feedctl report" "report --help"

finish "feedctl report"
