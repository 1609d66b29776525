#!/bin/sh
# test_feedctl_offline.sh FEEDCTL SOURCE_DIR - `feedctl validate` and `feedctl plan`, which need no
# broker: exit codes, messages, and the golden outputs of test/fixtures/plan_golden/ compared byte
# for byte (FMX_UPDATE_GOLDEN=1 rewrites them instead; review and commit the diff). When `dot` is
# installed, every DOT output must render with `dot -Tsvg`.
set -u
FEEDCTL=${1:?usage: test_feedctl_offline.sh FEEDCTL SOURCE_DIR}
SRC=${2:?usage: test_feedctl_offline.sh FEEDCTL SOURCE_DIR}
FIX=$SRC/test/fixtures
HAVE_DOT=0
command -v dot >/dev/null 2>&1 && HAVE_DOT=1
. "$SRC/test/cli/lib.sh"  # TMP, fail, expect, has, finish

# --- validate ---------------------------------------------------------------------------------
expect 0 "validate when_pruned" "$FEEDCTL" validate "$FIX/plan_golden/when_pruned" &&
    has "$TMP/out" "ok: 1 feeds, 2 param rules, 0 experiments" "validate when_pruned"
expect 0 "validate subfeed" "$FEEDCTL" validate "$FIX/plan_golden/subfeed" &&
    has "$TMP/out" "ok: 3 feeds, 0 param rules, 1 experiments" "validate subfeed"
expect 0 "validate shipped configs" "$FEEDCTL" validate "$SRC/configs" &&
    has "$TMP/out" "ok: " "validate shipped configs"
# Every broken file is reported, each as FILE:LINE:COL.
if expect 1 "validate bad_feeds" "$FEEDCTL" validate "$FIX/feedctl_offline/bad_feeds"; then
    has "$TMP/err" "bad_feeds/feeds/a.yaml:3:16: node 'src': unknown node type 'teleport'" "validate bad_feeds"
    has "$TMP/err" "bad_feeds/feeds/b.yaml:4:31: node 'top': unknown input 'nowhere'" "validate bad_feeds"
    [ -s "$TMP/out" ] && fail "validate bad_feeds: printed on stdout"
fi
expect 1 "validate bad_params" "$FEEDCTL" validate "$FIX/feedctl_offline/bad_params" &&
    has "$TMP/err" "bad_params/params.yaml:3:12:" "validate bad_params"
expect 1 "validate missing dir" "$FEEDCTL" validate "$TMP/nowhere"
expect 2 "validate two dirs" "$FEEDCTL" validate a b
expect 2 "validate option" "$FEEDCTL" validate --bogus

# --- plan: errors -----------------------------------------------------------------------------
WP=$FIX/plan_golden/when_pruned
expect 2 "plan without --user" "$FEEDCTL" plan shop --config "$WP"
expect 2 "plan without FEED" "$FEEDCTL" plan --user 1 --config "$WP"
expect 2 "plan --context without =" "$FEEDCTL" plan shop --user 1 --config "$WP" --context geo
expect 2 "plan --param twice" "$FEEDCTL" plan shop --user 1 --config "$WP" --param limit=1 --param limit=2
expect 2 "plan unknown option" "$FEEDCTL" plan shop --user 1 --config "$WP" --bogus
expect 1 "plan unknown feed" "$FEEDCTL" plan nope --user 1 --config "$WP" &&
    has "$TMP/err" "unknown_feed" "plan unknown feed"
expect 1 "plan non-overridable param" "$FEEDCTL" plan shop --user 1 --config "$WP" --param ranker_model=x &&
    has "$TMP/err" "bad_request" "plan non-overridable param"
expect 1 "plan param out of bounds" "$FEEDCTL" plan shop --user 1 --config "$WP" --param limit=500 &&
    has "$TMP/err" "bad_request" "plan param out of bounds"
expect 1 "plan bad config" "$FEEDCTL" plan shop --user 1 --config "$FIX/feedctl_offline/bad_feeds" &&
    has "$TMP/err" "unknown node type 'teleport'" "plan bad config"
# params.yaml targeting through --context: FR turns the deals branch on.
expect 0 "plan FR" "$FEEDCTL" plan shop --user 1 --config "$WP" --context geo=FR --context time=0 &&
    has "$TMP/out" '"key": "deals:FR"' "plan FR"

# --- plan: golden outputs ---------------------------------------------------------------------
for dir in "$FIX"/plan_golden/*/; do
    dir=${dir%/}
    name=${dir##*/}
    [ -f "$dir/args" ] || continue
    for fmt in json dot; do
        # args: one argument per line, so paths with spaces survive.
        set --
        while IFS= read -r arg || [ -n "$arg" ]; do
            case $arg in
            @CASE@*) arg=$dir${arg#@CASE@} ;;
            @SOURCE@*) arg=$SRC${arg#@SOURCE@} ;;
            esac
            set -- "$@" "$arg"
        done <"$dir/args"
        [ "$fmt" = dot ] && set -- "$@" --dot
        expect 0 "plan $name ($fmt)" "$FEEDCTL" plan "$@" || continue
        if [ "${FMX_UPDATE_GOLDEN:-0}" = 1 ]; then
            cp "$TMP/out" "$dir/plan.$fmt"
            echo "updated $dir/plan.$fmt"
        elif ! diff -u "$dir/plan.$fmt" "$TMP/out" >&2; then
            fail "plan $name ($fmt) differs from $dir/plan.$fmt (FMX_UPDATE_GOLDEN=1 regenerates)"
        fi
        if [ "$fmt" = dot ] && [ "$HAVE_DOT" = 1 ] && ! dot -Tsvg "$TMP/out" >/dev/null; then
            fail "plan $name: dot -Tsvg rejects the output"
        fi
    done
done
[ "$HAVE_DOT" = 1 ] || echo "note: graphviz 'dot' not on PATH, rendering not checked"

finish "feedctl offline"
