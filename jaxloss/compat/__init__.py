"""Drop-in twins of other libraries' losses, for code being ported.

- :mod:`jaxloss.compat.keras`: Keras 3 ``keras.losses``, order ``(y_true, y_pred)``.
- :mod:`jaxloss.compat.tf_v1`: ``tf.compat.v1.losses`` (TensorFlow 1 graph-mode values).
- :mod:`jaxloss.compat.tflearn`: tflearn 0.5.0 ``objectives``, order ``(y_pred, y_true)``.
- :mod:`jaxloss.compat.torch`: PyTorch 2.13 ``torch.nn.functional`` losses and ``torch.nn`` loss classes.

The twins hold no math of their own: they map arguments onto the core
functions of :mod:`jaxloss` and :func:`jaxloss.reduce`.
"""
