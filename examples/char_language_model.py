"""A character-level language model of the Zen of Python (which ships with
Python: the `this` module), then text generated from it one character at a
time with est.stream().

    python examples/char_language_model.py [--quick]
"""

import argparse
import codecs
import contextlib
import io
import warnings

import numpy as np

from lstm_fast import LSTMClassifier


def zen_of_python():
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the poem
        import this
    return codecs.decode(this.s, "rot13")


def main(quick=False, seed=0):
    text = zen_of_python()
    chars = sorted(set(text))
    codes = np.array([chars.index(c) for c in text])
    window = 40
    starts = np.arange(0, len(codes) - window - 1, 3)
    one_hot = np.eye(len(chars))
    X = one_hot[np.stack([codes[s:s + window] for s in starts])]
    y = np.stack([codes[s + 1:s + window + 1] for s in starts])  # the next character
    clf = LSTMClassifier(hidden_layer_sizes=(96,), output="sequence", learning_rate_init=1e-2,
                         batch_size=32, max_iter=2 if quick else 60, clip_norm=5.0,
                         random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    print(f"{len(text)} characters, {len(chars)} distinct; next-character accuracy on the "
          f"training text: {clf.score(X, y):.2f}")

    rng = np.random.default_rng(seed)
    stream = clf.stream()
    prompt = "Beautiful is "
    for ch in prompt[:-1]:
        stream.step(one_hot[chars.index(ch)])
    out, ch = prompt, prompt[-1]
    for _ in range(120 if not quick else 40):
        proba = stream.step_proba(one_hot[chars.index(ch)])  # over clf.classes_
        proba = proba ** 2 / np.sum(proba ** 2)  # a little cooler than sampling as is
        ch = chars[clf.classes_[rng.choice(len(proba), p=proba)]]
        out += ch
    print("generated:")
    print(out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs")
    main(parser.parse_args().quick)
