"""What a fit interrupted by Ctrl-C keeps: the state after its last whole epoch.

A KeyboardInterrupt stops a fit inside an epoch, with the parameters, the
optimizer and the fitted attributes half-way through it. The fit saves them
into an :class:`EpochCheckpoint` after every completed epoch, and on an
interrupt puts the last one back, so that the estimator is left as a fit with
``max_iter`` = the epochs completed would have left it.
"""

import copy


class EpochCheckpoint:
    """The state after the last completed epoch of a fit: what the estimator
    keeps when the fit is interrupted (KeyboardInterrupt) in a later epoch.

    Saving copies the parameters and the optimizer (a few copies of the
    parameter buffer per epoch, against an epoch's many kernel calls); the
    lists of `fitted` only grow, so their lengths are enough to restore them.

    Attributes
    ----------
    epochs : int
        Epochs saved so far; 0 means there is nothing to restore.
    """

    def __init__(self):
        self.epochs = 0
        self._state = None

    def save(self, params, optimizer, fitted, early_stopping):
        """Remember the state at the end of an epoch.

        Parameters
        ----------
        params : ndarray
            The parameters the estimator would keep if the fit ended now
            (the best validation epoch's with early stopping).
        optimizer : AdamOptimizer or SGDOptimizer
        fitted : dict
            The fitted attributes being built.
        early_stopping : bool
            best_loss_ is None after a fit with early stopping, as in MLP.
        """
        # Copied: the random stream (_random_state) goes on in the next epoch.
        scalars = copy.deepcopy({k: v for k, v in fitted.items() if not isinstance(v, list)})
        if early_stopping:
            scalars["best_loss_"] = None
        lengths = {k: len(v) for k, v in fitted.items() if isinstance(v, list)}
        # Built whole before it replaces the previous one: an interrupt while
        # saving leaves the previous checkpoint intact.
        self._state = (params.copy(), copy.deepcopy(optimizer), scalars, lengths)
        self.epochs += 1

    def restore(self, network, fitted):
        """Put the saved state back into `network` and `fitted`.

        Parameters
        ----------
        network : RecurrentNetwork
            Its parameters are overwritten in place.
        fitted : dict
            The fitted attributes being built, updated in place.

        Returns
        -------
        optimizer : AdamOptimizer or SGDOptimizer
            The optimizer as it was at the end of the saved epoch.
        """
        params, optimizer, scalars, lengths = self._state
        network.params[...] = params
        fitted.update(scalars)
        for key, n in lengths.items():
            del fitted[key][n:]
        return optimizer
