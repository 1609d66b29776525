# lib.sh - what the CLI test scripts share; source it once the script knows it will run (after any
# skip). Makes $TMP (removed at exit) and counts failures; `finish NAME` ends the script.

TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect RC DESCRIPTION CMD...: runs CMD (in $EXPECT_DIR when set, so names in its output are
# stable) with stdout/stderr in $TMP/out, $TMP/err.
expect() {
    want=$1 what=$2
    shift 2
    (cd "${EXPECT_DIR:-.}" && "$@") >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit $got, want $want"
        sed 's/^/  stdout: /' "$TMP/out" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        return 1
    fi
    return 0
}

# has FILE TEXT DESCRIPTION: FILE contains the fixed string TEXT.
has() {
    grep -qF -- "$2" "$1" || { fail "$3: no '$2' in:"; sed 's/^/  /' "$1" >&2; }
}

# finish NAME: exits 1 with the failure count, else 0.
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    echo "all $1 checks passed"
    exit 0
}
