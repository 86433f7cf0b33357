"""Stochastic optimizers that update one flat parameter buffer in place.

Like ``sklearn/neural_network/_stochastic_optimizers.py``, but the network
keeps all its parameters in one contiguous array (lstm_fast/_network.py), so
an update is one pass over that array, whatever the number of layers: a
kernel call for Adam (csrc/optim.h), a few in-place ufuncs for SGD; no
Python loop over parameters, no temporaries.
"""

import numpy as np

from . import _core

__all__ = ["AdamOptimizer", "SGDOptimizer", "clip_grad_norm", "LR_SCHEDULES"]

#: The values of the estimators' ``learning_rate`` parameter, as in MLP.
LR_SCHEDULES = ("constant", "invscaling", "adaptive")
#: "adaptive": each time training stalls the rate is divided by this, unless
#: it is already at or below _ADAPTIVE_MIN_RATE, when training stops (MLP's
#: values and comparison, ``SGDOptimizer.trigger_stopping``).
_ADAPTIVE_DIVISOR = 5.0
_ADAPTIVE_MIN_RATE = 1e-6


def clip_grad_norm(grad, max_norm):
    """Scale `grad` in place so that its Euclidean norm is at most `max_norm`.

    Parameters
    ----------
    grad : ndarray, 1-D
        The flat gradient of all parameters (global-norm clipping).
    max_norm : float or None
        None disables clipping.

    Returns
    -------
    norm : float
        The norm before clipping: inf or nan only if an entry of `grad` is.

    Notes
    -----
    The sum of squares is accumulated in float64, so a float32 gradient
    whose squares overflow float32 (entries above ~1.8e19) is still clipped
    (it would otherwise pass unclipped and blow the parameters up); only
    when even float64 overflows or underflows is the norm computed from
    the gradient scaled by its largest entry.
    """
    norm = float(np.sqrt(np.einsum("i,i->", grad, grad, dtype=np.float64)))
    if not 1e-150 < norm < 1e150 and not np.isnan(norm):  # 0, tiny, huge or inf
        largest = float(np.max(np.abs(grad)))
        if 0 < largest < np.inf:
            scaled = grad / grad.dtype.type(largest)
            norm = largest * float(np.sqrt(np.einsum("i,i->", scaled, scaled,
                                                     dtype=np.float64)))
    if max_norm is not None and np.isfinite(norm) and norm > max_norm:
        grad *= grad.dtype.type(max_norm / norm)
    return norm


class _LearningRateSchedule:
    """The current learning rate and MLP's schedule of it, between epochs.

    scikit-learn's ``SGDOptimizer.iteration_ends`` and ``trigger_stopping``
    (sklearn/neural_network/_stochastic_optimizers.py), with one
    difference: the "invscaling" rate is set at the start of each epoch from
    the samples seen before it, where MLP sets it at the end of the previous
    epoch of the same optimizer. The rates agree, except that after
    warm_start (a new optimizer) MLP's first epoch runs at
    ``learning_rate_init`` again and ours continues the schedule from ``t_``.

    Attributes
    ----------
    learning_rate : float
        The rate of the current epoch (Adam's before its bias correction).
    """

    def _init_schedule(self, learning_rate_init, lr_schedule, power_t):
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.power_t = float(power_t)

    def epoch_begins(self, time_step):
        """The rate of the epoch that starts after `time_step` training samples.

        Parameters
        ----------
        time_step : int
            Samples seen by every earlier epoch (the estimator's ``t_``).

        Returns
        -------
        learning_rate : float
            "invscaling": ``learning_rate_init / (time_step + 1) ** power_t``
            (MLP's formula: the first epoch runs at learning_rate_init);
            otherwise the current rate, unchanged.
        """
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (int(time_step) + 1) ** self.power_t
        return self.learning_rate

    def trigger_stopping(self):
        """Training stopped improving: stop, or go on at a lower rate.

        Returns
        -------
        is_stopping : bool
            True unless the schedule is "adaptive" and the rate is above
            1e-6, in which case the rate is divided by 5 and training goes on.
        outcome : str
            How MLP's verbose message ends: "Stopping.", "Learning rate too
            small. Stopping." or "Setting learning rate to <rate>".
        """
        if self.lr_schedule != "adaptive":
            return True, "Stopping."
        if self.learning_rate <= _ADAPTIVE_MIN_RATE:
            return True, "Learning rate too small. Stopping."
        self.learning_rate /= _ADAPTIVE_DIVISOR
        return False, f"Setting learning rate to {self.learning_rate:f}"

    def _fill_schedule(self, state):
        """Defaults for an optimizer pickled before the schedules existed:
        its rate was constant."""
        state.setdefault("learning_rate_init", state.get("learning_rate"))
        state.setdefault("learning_rate", state["learning_rate_init"])
        state.setdefault("lr_schedule", "constant")
        state.setdefault("power_t", 0.5)


class SGDOptimizer(_LearningRateSchedule):
    """SGD with (heavy-ball) momentum: ``v = momentum * v - lr * g; p += v``.

    Parameters
    ----------
    params : ndarray, 1-D
        The flat parameter buffer, updated in place by :meth:`update`.
    learning_rate_init : float
    momentum : float in [0, 1]
    lr_schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        How ``learning_rate`` changes between epochs (see
        :meth:`epoch_begins` and :meth:`trigger_stopping`).
    power_t : float, default=0.5
        The exponent of "invscaling".
    """

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9, lr_schedule="constant",
                 power_t=0.5):
        self._init_schedule(learning_rate_init, lr_schedule, power_t)
        self.momentum = float(momentum)
        self.velocity = np.zeros_like(params)
        self.t = 0

    def update(self, params, grad):
        """One step on `params` (in place) from the flat gradient `grad`."""
        self.t += 1
        dtype = params.dtype.type
        if self.momentum:
            self.velocity *= dtype(self.momentum)
            self.velocity -= dtype(self.learning_rate) * grad
            params += self.velocity
        else:
            params -= dtype(self.learning_rate) * grad


    def __setstate__(self, state):
        self._fill_schedule(state)
        self.__dict__.update(state)


class AdamOptimizer(_LearningRateSchedule):
    """Adam (Kingma & Ba, 2014) in the form scikit-learn's MLP uses.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    Parameters
    ----------
    params : ndarray, 1-D
        The flat parameter buffer, updated in place by :meth:`update`.
    learning_rate_init, beta_1, beta_2, epsilon : float
    lr_schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        How ``learning_rate`` (the ``lr`` above) changes between epochs (see
        :meth:`epoch_begins` and :meth:`trigger_stopping`); scikit-learn's
        Adam has no schedule.
    power_t : float, default=0.5
        The exponent of "invscaling".
    """

    def __init__(self, params, learning_rate_init=1e-3, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, lr_schedule="constant", power_t=0.5):
        self._init_schedule(learning_rate_init, lr_schedule, power_t)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = np.zeros_like(params)
        self.vs = np.zeros_like(params)

    def update(self, params, grad):
        """One step on `params` (in place) from the flat gradient `grad`.

        One pass over the parameters (csrc/optim.h), each value rounded to
        the parameters' dtype as NumPy's in-place ufuncs would round it in
        twelve passes: ``m = b1*m + (1 - b1)*g``, ``v = b2*v + (1 - b2)*g*g``,
        ``p -= m / (sqrt(v) + eps) * lr_t``.
        """
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        lr = self.learning_rate * np.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        _core.adam_step(params, grad, self.ms, self.vs, b1, b2, self.epsilon, float(lr))

    def __setstate__(self, state):
        state.pop("_scratch", None)  # pickled by versions that kept a scratch buffer
        self._fill_schedule(state)
        self.__dict__.update(state)
