"""Common TensorFlow 2 mistakes in a gradient function, recognized from what they produce, with the fix.

Rule of this module: each hint names the mistake in the student's words and the tool to use instead, never the
answer. A hint is given only for a symptom that identifies the mistake (the exact error TensorFlow raises while
tracing, a ``None`` gradient, a Python or NumPy number where a tensor belongs); anything else gets no hint.

Used by the notebook's public checks. How each mistake inside the function shows when it is traced with
``tf.function`` (AutoGraph off, as ``classviz.visualize.compile_loss_and_gradient`` does), measured with
TensorFlow 2.21 (``tests/test_tf_pitfalls.py`` makes each mistake for real):

- ``tf.constant(X)``: ``TypeError: Expected any non-tensor type, but got a tensor instead.``; with a dtype,
  ``TypeError: Expected float32, but got Tensor(...) of type 'SymbolicTensor'.``
- ``.numpy()``, and ``model.predict(X)`` which calls it: ``AttributeError: 'SymbolicTensor' object has no
  attribute 'numpy'``
- ``float(...)`` on a tensor: ``TypeError: float() argument must be a string or a real number, not
  'SymbolicTensor'``
- NumPy functions on a tensor (``np.sum(X ** 2)``): ``NotImplementedError: Cannot convert a symbolic tf.Tensor
  (...) to a numpy array.``
- no ``tape.watch(X)``: the gradient is None, ``ValueError: None values not supported.``
"""

from __future__ import annotations

import re

LEAVES_THE_TAPE = ("`.numpy()`, NumPy functions (`np.sum`, ...), `float()` and `model.predict(...)` give NumPy or "
                   "Python values that the tape cannot follow")

NO_GRADIENT = ("the tape recorded no path from X to the loss: call `tape.watch(X)` inside the "
               "`with tf.GradientTape() as tape:` block before using X, and compute the loss from X with "
               "TensorFlow operations inside that block (" + LEAVES_THE_TAPE + ")")

TRACE_ERRORS = (
    (r"Expected any non-tensor type|Expected \w+, but got .* of type 'SymbolicTensor'",
     "`tf.constant(...)` cannot take a tensor inside tf.function (the loop passes X as one): convert X with "
     "`tf.convert_to_tensor(X, dtype=tf.float32)`, which accepts NumPy arrays and tensors alike"),
    (r"has no attribute 'numpy'",
     "`.numpy()` (which `model.predict(...)` also calls) needs a concrete value, which a tensor inside "
     "tf.function does not have: call the model as `model(X)` and keep TensorFlow operations from X to the loss"),
    (r"float\(\) argument",
     "`float(...)` needs a concrete value, which a tensor inside tf.function does not have: keep the scores and "
     "the loss tf.Tensors (the checks and the loop convert the loss themselves)"),
    (r"Cannot convert a symbolic",
     "NumPy functions cannot run on a tensor inside tf.function: use their TensorFlow counterparts "
     "(`tf.reduce_sum`, `tf.square`, ...) on X"),
    (r"None values not supported", NO_GRADIENT),
)
"""(regular expression searched in the error raised while tracing, hint): how each mistake shows when the
function is compiled."""


def compile_hint(reason: str | None) -> str | None:
    """The hint for a reason returned by ``classviz.visualize.compile_loss_and_gradient``, or None.

    Args:
        reason: ``"TypeError: Expected any non-tensor type, ..."`` and the like, or None (compiled).
    """
    if not reason:
        return None
    return next((hint for pattern, hint in TRACE_ERRORS if re.search(pattern, reason)), None)


def not_a_tensor(name: str, value) -> str:
    """Why ``value`` (the student's ``loss`` or ``dX``) should have been a ``tf.Tensor``, in one message.

    Args:
        name: ``"loss"`` or ``"dX"``.
        value: what the student's function returned for it.
    """
    if value is None:
        why = NO_GRADIENT if name == "dX" else "is it computed and returned as the first of (loss, dX)?"
        return f"{name} must be a tf.Tensor, but is None: {why}."
    kind = type(value).__name__ if type(value).__module__ == "builtins" else \
        f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"
    text = f"{name} must be a tf.Tensor, but is a {kind}"
    return (f"{text}: return the tensors the tape gives you, unconverted ({LEAVES_THE_TAPE}, and tf.function "
            "cannot compile them).")
