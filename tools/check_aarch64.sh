#!/usr/bin/env bash
# The C core on aarch64, from an x86-64 machine: the kernel library and its C
# test driver cross-compiled with Debian's gcc-aarch64-linux-gnu, then every
# test group run through ctest under qemu-aarch64 (user-mode emulation) with
# more than one OpenMP thread. Exits non-zero on any failed check, or when a
# tool is missing and cannot be installed.
#
#   tools/check_aarch64.sh            # build in build/aarch64, run ctest there
#
# Needs cmake, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, libgomp1-arm64-cross
# and qemu-user; installs the missing ones with apt-get (as root, or through sudo).
# Everything goes through CMake (-DLSTMF_TESTS=ON), so no C file is named here.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${LSTMF_AARCH64_BUILD_DIR:-build/aarch64}
sysroot=/usr/aarch64-linux-gnu
cc=aarch64-linux-gnu-gcc
# Fixed rather than the host's CPU count, so that the threaded paths (the
# column and row splits) run even on a one-core CI machine.
threads=${LSTMF_AARCH64_THREADS:-2}
jobs=2

say() { echo "== $*"; }
die() { echo "check_aarch64: $*" >&2; exit 2; }

# One `apt-get update`, then one install of every missing package. The lock
# timeout lets this wait for another apt-get (e.g. another check) to finish.
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "missing $* and there is no apt-get here: install them (Debian's names) and rerun"
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing $*: run as root (or with sudo) to install them"
        sudo=(sudo -n)
    fi
    say "installing $*"
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq ||
        die "apt-get update failed; cannot install $*"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

# The emulator: Debian's qemu-user names it qemu-aarch64, qemu-user-static
# qemu-aarch64-static; either runs the same binaries.
find_qemu() { command -v qemu-aarch64 || command -v qemu-aarch64-static; }

# A program that starts $threads OpenMP threads and reports how many ran:
# proves in one step that the cross compiler, its libgomp and the emulator
# work together (and that threads do start under qemu).
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
cat >"$probe_dir/probe.c" <<'EOF'
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
#pragma omp parallel
    {
#pragma omp atomic
        n++;
    }
    printf("%d\n", n);
    return 0;
}
EOF
openmp_probe_builds() { "$cc" -fopenmp -o "$probe_dir/probe" "$probe_dir/probe.c" >/dev/null 2>&1; }

# The C library's headers (libc6-dev-arm64-cross) are only a recommendation
# of gcc-aarch64-linux-gnu, so they are named too.
cross_packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libgomp1-arm64-cross)
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if ! command -v "$cc" >/dev/null 2>&1 || ! openmp_probe_builds; then
    missing+=("${cross_packages[@]}")
fi
find_qemu >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

command -v cmake >/dev/null 2>&1 || die "cmake is still missing (apt-get install cmake, or pip install cmake)"
command -v "$cc" >/dev/null 2>&1 || die "$cc is still missing (Debian package gcc-aarch64-linux-gnu)"
openmp_probe_builds ||
    die "$cc cannot build an OpenMP program (Debian packages ${cross_packages[*]}): $("$cc" -fopenmp -o "$probe_dir/probe" "$probe_dir/probe.c" 2>&1 | head -3)"
qemu=$(find_qemu) || die "qemu-aarch64 is still missing (Debian package qemu-user)"
say "compiler: $("$cc" --version | head -1)"
say "emulator: $("$qemu" --version | head -1)"

ran=$(OMP_NUM_THREADS=$threads "$qemu" -L "$sysroot" "$probe_dir/probe") ||
    die "$qemu could not run an aarch64 OpenMP program (libraries in $sysroot?)"
[ "$ran" = "$threads" ] ||
    die "an OpenMP program under $qemu ran $ran threads, not $threads"
say "OpenMP under qemu: $ran threads"

say "configuring and building the aarch64 test driver in $build"
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSTMF_TESTS=ON \
    -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_CROSSCOMPILING_EMULATOR="$qemu;-L;$sysroot" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; die "cmake could not configure $build"; }
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 ||
    { tail -n 60 "$build/build.log" >&2; die "the aarch64 build failed (log: $build/build.log)"; }

# The threaded paths are only tested if the kernels were built with OpenMP:
# a build without it would pass here single-threaded and prove less.
driver="$build/csrc/tests/lstmf_tests"
aarch64-linux-gnu-readelf -h "$driver" | grep -q 'Machine:.*AArch64' ||
    die "$driver is not an aarch64 program"
aarch64-linux-gnu-readelf -d "$driver" | grep -q 'libgomp' ||
    die "$driver was built without OpenMP (CMake did not find it for $cc): its threaded paths would go untested"

say "ctest under $qemu, OMP_NUM_THREADS=$threads"
(cd "$build" && OMP_NUM_THREADS=$threads ctest --output-on-failure -j "$jobs" --timeout 600)

# Proof that the kernels' parallel regions really ran threaded under qemu:
# libgomp starts a team's extra threads with clone(CLONE_THREAD), which qemu's
# syscall log shows. One quick group whose shapes split across threads is
# enough (ctest above has judged the results; this only counts threads).
strace_log="$build/threads.strace"
OMP_NUM_THREADS=$threads QEMU_STRACE=1 "$qemu" -L "$sysroot" "$driver" row_passes \
    >/dev/null 2>"$strace_log" || true
started=$(grep -c 'clone(.*CLONE_THREAD' "$strace_log" || true)
[ "$started" -ge $((threads - 1)) ] ||
    die "the test driver started $started extra threads under qemu, not $((threads - 1)) (is row_passes still a test group? log: $strace_log)"
say "threads: the driver's row_passes group ran $((started + 1)) OpenMP threads under qemu"
say "aarch64: all test groups passed"
