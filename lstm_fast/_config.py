"""Build and run-time configuration: ISA dispatch and threads."""

import os
import platform
import warnings

from . import _core, _cpus
from ._version import __version__

ISA_ENV = "LSTM_FAST_ISA"


def _select_isa():
    requested = os.environ.get(ISA_ENV, "").strip().lower()
    if _core.isa_init(requested):
        return
    if requested not in _core.isa_names():
        reason = f"it is not one of {', '.join(_core.isa_names())}"
    elif requested not in _core.isas_compiled():
        reason = "this build of lstm-fast does not include it"
    else:
        reason = "this CPU does not support it"
    warnings.warn(
        f"{ISA_ENV}={requested!r} cannot be used: {reason}. Using the "
        f"{_core.isa_active()!r} kernels instead (supported here: "
        f"{', '.join(_core.isas_supported())}).",
        RuntimeWarning,
        stacklevel=3,
    )


_select_isa()

DOT_ENV = "LSTM_FAST_DOT"


def _select_dot_products():
    """LSTM_FAST_DOT: the dot-product instructions the reduced precisions
    may use ("none", or names from ``_core.DOT_PRODUCTS`` separated by
    commas); unset: every one this CPU and ISA have. The tests force each
    path with it, as LSTM_FAST_ISA forces each ISA."""
    requested = os.environ.get(DOT_ENV, "").strip().lower()
    if not requested:
        return
    names = [] if requested == "none" else [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in _core.DOT_PRODUCTS]
    if not unknown and _core.dot_products_init(names):
        return
    reason = (f"{', '.join(unknown)} is not one of {', '.join(_core.DOT_PRODUCTS)}, none"
              if unknown else f"this CPU or the {_core.isa_active()!r} kernels lack some")
    warnings.warn(
        f"{DOT_ENV}={requested!r} cannot be used: {reason}. Using every supported one "
        f"instead ({', '.join(_core.dot_products_supported()) or 'none'}).",
        RuntimeWarning,
        stacklevel=3,
    )


_select_dot_products()


def _reduced_precision_paths():
    """Per reduced precision, the product path the kernels take here."""
    active = _core.dot_products_active()
    return {
        "int8": ("avx512_vnni dot products" if "avx512_vnni" in active
                 else "portable int32 sums (no VNNI in use)"),
        "bfloat16": ("avx512_bf16 dot products" if "avx512_bf16" in active
                     else "converting to float32 (no AVX512-BF16 in use)"),
    }


def set_num_threads(n):
    """Set the number of OpenMP threads the kernels use.

    Parameters
    ----------
    n : int
        Thread count, at least 1. ``threadpoolctl.threadpool_limits`` sets
        the same value.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    """Number of OpenMP threads the kernels will use.

    Returns
    -------
    int
    """
    return _core.get_num_threads()


def _openmp_runtime():
    """Name and path of the OpenMP library loaded in this process, if any."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    libs = [info for info in threadpool_info() if info.get("user_api") == "openmp"]
    if not libs:
        return "none found"
    return "; ".join(f"{info['internal_api']} ({info['filepath']})" for info in libs)


# _OPENMP is the release date of the specification the compiler implements.
_OPENMP_RELEASES = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0",
                    201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}


def _openmp_spec(macro):
    if not macro:
        return "not built with OpenMP"
    return f"OpenMP {_OPENMP_RELEASES.get(macro, 'unknown')} (_OPENMP={macro})"


def config():
    """The configuration as a dict (what :func:`show_config` prints).

    Returns
    -------
    dict
        ``version``, ``isa`` (in use), ``isas_compiled``, ``isas_supported``
        (compiled and usable on this CPU), ``openmp`` (version the kernels were
        built with), ``openmp_runtime``, ``threads``, ``threads_from``
        (where the default thread count came from: the CPU affinity, a
        cgroup's CPU quota, or OMP_NUM_THREADS), ``dot_products_built``
        (the dot-product instructions the kernels have code for),
        ``dot_products_supported`` (those this CPU and ISA run),
        ``int8`` and ``bfloat16`` (the path each reduced precision takes),
        ``machine``.
    """
    omp = _core.openmp_version()
    return {
        "version": __version__,
        "isa": _core.isa_active(),
        "isas_compiled": _core.isas_compiled(),
        "isas_supported": _core.isas_supported(),
        "openmp": _openmp_spec(omp),
        "openmp_runtime": _openmp_runtime(),
        "threads": get_num_threads(),
        "threads_from": _cpus.threads_source,
        "dot_products_built": list(_core.DOT_PRODUCTS) if "avx512" in _core.isas_compiled() else [],
        "dot_products_supported": _core.dot_products_supported(),
        **_reduced_precision_paths(),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}",
    }


def show_config():
    """Print the version, ISA in use, ISAs compiled, OpenMP runtime and threads."""
    width = 24
    for key, value in config().items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key + ':':<{width}}{value}")
