# The counting the shell tests share (sourced): fail, ok and skip, and
# finish, which ends the test: exit 1 on any failure, else 77 (ctest's
# SKIP_RETURN_CODE) if a part was skipped, a failure too when
# CONSORT_NO_SKIP=1 (CI), else 0 with MESSAGE.
failures=0
skipped=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
skip() {
    echo "SKIP: $*"
    skipped=$((skipped + 1))
}

# finish MESSAGE
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)"
        exit 1
    fi
    if [ "$skipped" -ne 0 ]; then
        if [ "${CONSORT_NO_SKIP:-0}" = 1 ]; then
            echo "FAIL: $skipped part(s) skipped and CONSORT_NO_SKIP=1"
            exit 1
        fi
        exit 77
    fi
    echo "$1"
}
