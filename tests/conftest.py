"""Test-run settings shared by every test module.

Two run profiles, chosen by the environment variable
``LSTM_FAST_TEST_PROFILE`` (read once, at collection):

* ``ci`` (the default, what a plain ``pytest`` runs): property-based tests
  try a bounded, reproducible set of examples (hypothesis derandomized,
  tens of examples per test, no deadline: a shared CI machine has uneven
  timing), and the tests marked ``slow`` run in their bounded form.
* ``long``: hypothesis tries many more (random) examples per test, and the
  ``slow`` tests run at full size. For fuzzing sessions and before a release:
  ``LSTM_FAST_TEST_PROFILE=long pytest``.

The ``slow`` marker names the tests that take seconds even when bounded;
``pytest -m "not slow"`` skips them for a quick local check.
"""

import os
import warnings

import pytest

PROFILE = os.environ.get("LSTM_FAST_TEST_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    raise pytest.UsageError(f"LSTM_FAST_TEST_PROFILE must be 'ci' or 'long', got {PROFILE!r}")

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the "test" extra installs it; without it only the
    pass             # property-based modules fail (at import), not the whole run
else:
    settings.register_profile(
        "ci", max_examples=40, deadline=None, derandomize=True, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile(
        "long", max_examples=1000, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile(PROFILE)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes seconds even in its bounded (default) form; runs at full "
                   "size with LSTM_FAST_TEST_PROFILE=long")


@pytest.fixture(scope="session")
def long_run():
    """True under LSTM_FAST_TEST_PROFILE=long: slow tests use full sizes."""
    return PROFILE == "long"


@pytest.fixture(scope="module")
def client():
    """A dask Client of a LocalCluster of two worker processes, one thread
    each: blocks and models really travel between processes by pickle."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        yield c
