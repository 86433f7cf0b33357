"""The default thread count follows the CPU quota of the process's cgroup
(v1 and v2, its own and its ancestors') and its affinity; OMP_NUM_THREADS
wins over both; show_config says where the count came from."""

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from lstm_fast import _cpus

MOUNTINFO_V1 = (
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
MOUNTINFO_V2 = "40 23 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"


def fake_files(monkeypatch, files):
    monkeypatch.setattr(_cpus, "_read", lambda path: files.get(path))


def test_v1_quota_of_an_ancestor(monkeypatch):
    fake_files(monkeypatch, {
        "/proc/self/mountinfo": MOUNTINFO_V1,
        "/proc/self/cgroup": "4:memory:/pod\n1:cpu:/pod/box\n",
        "/sys/fs/cgroup/cpu/pod/box/cpu.cfs_quota_us": "-1",
        "/sys/fs/cgroup/cpu/pod/box/cpu.cfs_period_us": "100000",
        "/sys/fs/cgroup/cpu/pod/cpu.cfs_quota_us": "150000",
        "/sys/fs/cgroup/cpu/pod/cpu.cfs_period_us": "100000",
    })
    assert _cpus.cgroup_cpu_limit() == (1.5, "/sys/fs/cgroup/cpu/pod")


def test_v2_tightest_limit_wins(monkeypatch):
    fake_files(monkeypatch, {
        "/proc/self/mountinfo": MOUNTINFO_V2,
        "/proc/self/cgroup": "0::/a/b\n",
        "/sys/fs/cgroup/a/b/cpu.max": "50000 100000",
        "/sys/fs/cgroup/a/cpu.max": "200000 100000",
        "/sys/fs/cgroup/cpu.max": "max 100000",
    })
    assert _cpus.cgroup_cpu_limit() == (0.5, "/sys/fs/cgroup/a/b")
    monkeypatch.setattr(_cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    n, source = _cpus.usable_cpus()
    assert n == 1 and "quota of 0.5 CPUs" in source


def test_inside_a_container_the_mount_root_is_the_own_cgroup(monkeypatch):
    fake_files(monkeypatch, {
        "/proc/self/mountinfo": MOUNTINFO_V2,
        "/proc/self/cgroup": "0::/\n",
        "/sys/fs/cgroup/cpu.max": "100000 100000",
    })
    assert _cpus.cgroup_cpu_limit() == (1.0, "/sys/fs/cgroup")


def test_no_quota_and_no_cgroup_files(monkeypatch):
    fake_files(monkeypatch, {"/proc/self/mountinfo": MOUNTINFO_V2,
                             "/proc/self/cgroup": "0::/x\n",
                             "/sys/fs/cgroup/x/cpu.max": "max 100000"})
    assert _cpus.cgroup_cpu_limit() == (None, None)
    fake_files(monkeypatch, {})
    assert _cpus.cgroup_cpu_limit() == (None, None)
    monkeypatch.setattr(_cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert _cpus.usable_cpus()[0] == 2


CHILD = ("import lstm_fast, os; c = lstm_fast._config.config(); "
         "print(c['threads'], '|', c['threads_from'], '|', os.environ.get('OMP_NUM_THREADS'))")


def _run_child(prefix=(), env=None):
    env = dict(os.environ if env is None else env)
    proc = subprocess.run([*prefix, sys.executable, "-c", CHILD], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [part.strip() for part in proc.stdout.split("|")]


def test_omp_num_threads_wins():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    threads, source, omp = _run_child(env=env)
    assert threads == "1" and source == "OMP_NUM_THREADS"


@pytest.fixture
def quota_cgroup():
    """A v1 cgroup of 1 CPU (root, with the cpu controller mounted), or skip."""
    base = "/sys/fs/cgroup/cpu"
    if os.geteuid() != 0 or not os.access(base, os.W_OK) or (os.cpu_count() or 1) < 2 \
            or not os.path.exists(os.path.join(base, "cpu.cfs_quota_us")):
        pytest.skip("needs root and a writable cgroup v1 cpu controller")
    path = os.path.join(base, f"lstmf-test-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write("100000")
    except OSError as e:
        shutil.rmtree(path, ignore_errors=True)
        pytest.skip(f"cannot make a cgroup here: {e}")
    yield path
    os.rmdir(path)


def test_a_process_in_a_one_cpu_cgroup_uses_one_thread(quota_cgroup):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    enter = ["sh", "-c", f'echo $$ > {quota_cgroup}/cgroup.procs && exec "$@"', "sh"]
    threads, source, omp = _run_child(enter, env)
    assert threads == "1" and omp == "1"
    assert quota_cgroup in source and "quota of 1 CPU" in source

