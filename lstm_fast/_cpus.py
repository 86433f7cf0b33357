"""How many CPUs this process may really use: its CPU affinity and the CPU
quota of its cgroup (v1 or v2), as a container or a Kubernetes pod sets it.

joblib's ``cpu_count`` (loky's) reads the quota at the root of the cgroup
mount, which is the process's own cgroup inside a container (a cgroup
namespace); a process put in a cgroup without one (``systemd-run --scope
-p CPUQuota=``, a cgroup made by hand) sees the host's root there. So the
process's own cgroup and each of its ancestors are read here, from
/proc/self/cgroup, as the kernel applies every one of their limits. This
module imports nothing heavy: it runs at ``import lstm_fast``.
"""

import math
import os


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_mounts():
    """Mount point of the cgroup2 hierarchy ("") and of the v1 hierarchy
    holding the "cpu" controller ("cpu"), from /proc/self/mountinfo."""
    mounts = {}
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 5 or len(after) < 3:
            continue
        root, point, fstype = fields[3], fields[4], after[0]
        if fstype == "cgroup2":
            mounts.setdefault("", (root, point))
        elif fstype == "cgroup" and "cpu" in after[2].split(","):
            mounts.setdefault("cpu", (root, point))
    return mounts


def _ancestors(mount, path):
    """The directories of cgroup `path` and of its ancestors under `mount`
    (root, point): the process's own first."""
    root, point = mount
    rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
    parts = [] if rel in (".", "") else rel.strip("/").split("/")
    return [os.path.join(point, *parts[:k]) for k in range(len(parts), -1, -1)]


def _limit_v2(directory):
    value = _read(os.path.join(directory, "cpu.max"))
    if not value:
        return None
    quota, _, period = value.partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _limit_v1(directory):
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if not quota or not period or int(quota) <= 0 or int(period) <= 0:
        return None
    return int(quota) / int(period)


def cgroup_cpu_limit():
    """The tightest CPU quota over this process's cgroups and their
    ancestors, in CPUs (1.5 means 150 ms of CPU time per 100 ms), and the
    directory that sets it; (None, None) without one (or off Linux)."""
    mounts = _cgroup_mounts()
    best = (None, None)
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and controllers == "" and "" in mounts:
            mount, read = mounts[""], _limit_v2
        elif "cpu" in controllers.split(",") and "cpu" in mounts:
            mount, read = mounts["cpu"], _limit_v1
        else:
            continue
        for directory in _ancestors(mount, path):
            limit = read(directory)
            if limit is not None and (best[0] is None or limit < best[0]):
                best = (limit, directory)
    return best


def usable_cpus():
    """CPUs this process may use, and why: ``(n, source)``.

    Returns
    -------
    n : int
        The CPUs in its affinity mask, or fewer if a cgroup's CPU quota
        allows less time than that (rounded up, as joblib's ``cpu_count``
        does; at least 1).
    source : str
        Where `n` comes from, for :func:`lstm_fast.show_config`.
    """
    try:
        n = len(os.sched_getaffinity(0))
        source = f"CPU affinity ({n} of {os.cpu_count()} CPUs)"
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
        source = f"{n} CPUs"
    limit, where = cgroup_cpu_limit()
    if limit is not None and math.ceil(limit) < n:
        n = max(1, math.ceil(limit))
        source = f"a cgroup CPU quota of {limit:g} CPU{'' if limit == 1 else 's'} ({where})"
    return n, source


#: Where the kernels' default thread count came from (show_config).
threads_source = None


def set_default_threads():
    """Before the kernels' OpenMP runtime starts: its default thread count
    (OMP_NUM_THREADS, which the runtime reads once, for every thread of the
    process) to :func:`usable_cpus` where that is fewer than the runtime
    would take (it follows the affinity mask itself, not a quota), unless
    the user set OMP_NUM_THREADS. Child processes inherit the variable, as
    they inherit the quota."""
    global threads_source
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        threads_source = "OMP_NUM_THREADS"
        return
    n, threads_source = usable_cpus()
    if n < (os.cpu_count() or n):
        os.environ["OMP_NUM_THREADS"] = str(n)
