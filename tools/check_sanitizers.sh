#!/usr/bin/env bash
# The C core under AddressSanitizer + UndefinedBehaviorSanitizer (with
# LeakSanitizer), a short libFuzzer run, and optionally valgrind memcheck.
# Exits non-zero on any finding: a failed check, a sanitizer report, a leak,
# a fuzzer crash, a valgrind error. See CONTRIBUTING.md.
#
#   tools/check_sanitizers.sh                   # tests + 45 s of fuzzing (CI)
#   tools/check_sanitizers.sh --valgrind        # ... and the tests under valgrind
#   tools/check_sanitizers.sh --fuzz-seconds 3600 --no-tests   # a long fuzz run
#
# Needs cmake, clang with its runtime libraries (libFuzzer, sanitizers) and
# libomp; installs them with apt-get when missing and apt-get exists.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=45
run_tests=1
run_valgrind=0
while [ $# -gt 0 ]; do
    case "$1" in
        --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
        --no-fuzz) fuzz_seconds=0; shift ;;
        --no-tests) run_tests=0; shift ;;
        --valgrind) run_valgrind=1; shift ;;
        *) echo "usage: $0 [--fuzz-seconds N] [--no-fuzz] [--no-tests] [--valgrind]" >&2; exit 2 ;;
    esac
done
build=${LSTMF_SANITIZER_BUILD_DIR:-build/sanitizers}
jobs=$(nproc 2>/dev/null || echo 2)

apt_install() {
    if command -v apt-get >/dev/null 2>&1; then
        echo "== installing $*"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "missing: $* (no apt-get here; install them and rerun)" >&2
        exit 2
    fi
}

# clang: a versioned one if present (Debian names them clang-14 ...), else
# plain clang; the fuzzer runtime must be there too.
find_clang() {
    for c in clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
        if command -v "$c" >/dev/null 2>&1 &&
            echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
            "$c" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

command -v cmake >/dev/null 2>&1 || apt_install cmake
cc=$(find_clang) || { apt_install clang-14 libclang-rt-14-dev libomp-14-dev; cc=$(find_clang); }
# libomp for clang's -fopenmp, so the threaded paths run under the sanitizers
# too (without it the kernels build single-threaded and this is still valid).
if ! echo 'int main(void){return 0;}' | "$cc" -x c -fopenmp -o /dev/null - >/dev/null 2>&1; then
    apt_install libomp-14-dev || true
fi
echo "== compiler: $("$cc" --version | head -1)"

# Every finding is fatal; leaks are findings (LeakSanitizer is on by default
# with ASan on Linux x86-64; said explicitly so that it stays on).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

echo "== building the ASan+UBSan test driver and fuzz target in $build/asan"
cmake -S . -B "$build/asan" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
    -DLSTMF_TESTS=ON -DLSTMF_FUZZ=ON -DLSTMF_SANITIZE=address,undefined >/dev/null
cmake --build "$build/asan" -j "$jobs" >/dev/null

if [ "$run_tests" = 1 ]; then
    echo "== ctest (ASan + UBSan + LeakSanitizer)"
    (cd "$build/asan" && ctest --output-on-failure -j "$jobs")
fi

if [ "$fuzz_seconds" -gt 0 ]; then
    echo "== fuzzing for $fuzz_seconds s"
    corpus="$build/fuzz-corpus"
    mkdir -p "$corpus"
    # The seeds (one per mode) start every run; new inputs go to $corpus,
    # which later runs in the same build directory continue from.
    # libFuzzer's progress lines go to a log; a finding prints its end.
    log="$build/fuzz.log"
    if ! "$build/asan/csrc/tests/lstmf_fuzz" -max_total_time="$fuzz_seconds" -max_len=4096 \
        -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$build/" "$corpus" csrc/tests/fuzz_seeds >"$log" 2>&1; then
        tail -n 80 "$log" >&2
        echo "the fuzzer found a problem: the input is in $build/crash-* (see $log)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)|DONE' "$log" || true
fi

if [ "$run_valgrind" = 1 ]; then
    command -v valgrind >/dev/null 2>&1 || apt_install valgrind
    echo "== building the plain test driver in $build/valgrind"
    # The compiler the wheel uses (cc), optimised as shipped; valgrind hides
    # AVX-512 from the program, so that variant is skipped there.
    cmake -S . -B "$build/valgrind" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSTMF_TESTS=ON >/dev/null
    cmake --build "$build/valgrind" -j "$jobs" >/dev/null
    echo "== valgrind memcheck"
    # The groups (ctest's tests) in two processes side by side, every other
    # one in each (valgrind runs one thread at a time, and the driver takes
    # group names): about half the wall time on two cores. Each process's
    # report goes to its own log, printed after both end; any finding
    # fails the run.
    groups_a="" groups_b=""
    i=0
    for group in $(cd "$build/valgrind" && ctest -N | sed -n 's/^ *Test *#[0-9]*: //p'); do
        if [ $((i % 2)) = 0 ]; then groups_a="$groups_a $group"; else groups_b="$groups_b $group"; fi
        i=$((i + 1))
    done
    pids=()
    for part in a b; do
        groups_var="groups_$part"
        # shellcheck disable=SC2086 # the group names are separate arguments
        valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --show-leak-kinds=definite,indirect --track-origins=yes --quiet \
            "$build/valgrind/csrc/tests/lstmf_tests" ${!groups_var} >"$build/valgrind-$part.log" 2>&1 &
        pids+=($!)
    done
    status=0
    for i in 0 1; do wait "${pids[$i]}" || status=1; done
    cat "$build/valgrind-a.log" "$build/valgrind-b.log"
    [ "$status" = 0 ] || { echo "valgrind found a problem (above)" >&2; exit 1; }
fi
echo "== no findings"
