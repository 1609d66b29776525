#!/bin/sh
# test_trace_gantt.sh SOURCE_DIR - scripts/trace-gantt on real traces of the `home` feed
# (test/fixtures/logs/: one healthy, one where `scored` timed out): the fixtures are valid JSON,
# the SVG is well-formed XML (python3's xml.etree parses it), names every node of the trace,
# and has bars in the status colours. Bad input exits 1 or 2 without writing an SVG.
# Exits 77 (skip) without python3 or gnuplot.
set -u
SRC=${1:?usage: test_trace_gantt.sh SOURCE_DIR}
GANTT=$SRC/scripts/trace-gantt
FIX=$SRC/test/fixtures/logs
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox)"; exit 77; }
. "$SRC/test/cli/lib.sh"  # TMP, fail, finish

# check TRACE COLOUR...: draws TRACE and checks the SVG against the trace's thread names.
check() {
    trace=$1
    shift
    name=$(basename "$trace" .json)
    python3 -m json.tool "$trace" >/dev/null || fail "$name: the fixture is not valid JSON"
    if ! python3 "$GANTT" "$trace" -o "$TMP/$name.svg" >"$TMP/out" 2>"$TMP/err"; then
        fail "$name: trace-gantt failed: $(cat "$TMP/err")"
        return
    fi
    python3 - "$trace" "$TMP/$name.svg" "$@" <<'EOF' || fail "$name: the SVG is wrong"
import json, sys, xml.etree.ElementTree as ET
trace, svg, colours = sys.argv[1], sys.argv[2], sys.argv[3:]
root = ET.parse(svg).getroot()            # well-formed, or this raises
assert root.tag.endswith("svg"), root.tag
texts = {"".join(e.itertext()).strip() for e in root.iter()}
events = json.load(open(trace))["traceEvents"]
nodes = {e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
assert len(nodes) >= 8, nodes             # request + the 7 nodes of home
missing = sorted(n for n in nodes if n not in texts)
assert not missing, "nodes not named in the SVG: %s" % missing
# gnuplot writes colours as rgb(r, g, b); the legend holds one of each, so a bar makes it two
text = ET.tostring(root, encoding="unicode").replace(" ", "")
for c in colours:
    rgb = "rgb(%d,%d,%d)" % (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16))
    assert text.count(rgb) >= 2, "no bar coloured %s" % c
EOF
}

# healthy: node bars blue, actor bars green; degraded: `scored` fell back (orange), no reply (grey)
check "$FIX/trace-home.json" "#9ecae1" "#31a354"
check "$FIX/trace-home-degraded.json" "#fdae6b" "#969696"

# the default output name: TRACE with .svg for .json
cp "$FIX/trace-home.json" "$TMP/copy.json"
python3 "$GANTT" "$TMP/copy.json" >/dev/null 2>&1 && [ -s "$TMP/copy.svg" ] || fail "default output name"

# bad input: usage errors exit 2, unreadable traces 1, and no SVG is left behind
python3 "$GANTT" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no argument should exit 2"
python3 "$GANTT" a.json b.json >/dev/null 2>&1
[ $? -eq 2 ] || fail "two traces should exit 2"
printf '{"traceEvents": [' >"$TMP/broken.json"
python3 "$GANTT" "$TMP/broken.json" -o "$TMP/broken.svg" >/dev/null 2>&1
[ $? -eq 1 ] || fail "a truncated trace should exit 1"
[ ! -e "$TMP/broken.svg" ] || fail "a truncated trace left an SVG"
printf '{"traceEvents": []}' >"$TMP/empty.json"
python3 "$GANTT" "$TMP/empty.json" -o "$TMP/empty.svg" >/dev/null 2>&1
[ $? -eq 1 ] || fail "a trace without spans should exit 1"

finish "trace-gantt"
