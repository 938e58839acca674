"""Compile an assignment-style gradient function with ``tf.function``, or say in one line why it cannot be.

Rule of this module: ``loss_and_gradient(model, X, target_y, l2_reg) -> (loss, dX)`` is traced once per model with
a fixed signature and kept only if the graph gives the eager function's values; a tracing error is reported with
the usual TensorFlow 2 mistake behind it and its fix (:data:`COMPILE_PITFALLS`). The provided loop
(:func:`classviz.visualize.assignment_step`) and the notebook's ``tf.function`` check both go through
:func:`compile_loss_and_gradient`.
"""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from typing import NamedTuple

import numpy as np

from .settings import DEFAULTS, initial_image
from .squeezenet import IMAGE_SIZE
from .tf_variables import variables_as_watched_tensors

COMPILED_RTOL, COMPILED_LOSS_ATOL, COMPILED_ATOL = 1e-3, 1e-3, 1e-5
"""How close compiled and eager outputs must be: relative; absolute for the loss; absolute for the rest (also the
hidden tf_function check's)."""


class Pitfall(NamedTuple):
    """A common TensorFlow 2 mistake: its name, the code that shows it on a failing line, words of TensorFlow's error
    when it stops ``tf.function``, the fix named for that error, and what the hidden grader says when it loses the
    gradient (None: it does not)."""
    name: str
    code: str | None
    words: str | None
    fix: str
    lost: str | None


PITFALLS = (
    Pitfall("tf.constant", "tf.constant(", "Expected any non-tensor type",
            "X = tf.constant(X) cannot take the symbolic tensor tf.function passes in: use "
            "X = tf.convert_to_tensor(X, dtype=tf.float32)",
            "`tf.constant(...)` on X: it cannot take the symbolic tensor a compiled (tf.function) graph passes in, and "
            "a new constant is not watched by the tape; use `tf.convert_to_tensor(X, dtype=tf.float32)` instead"),
    Pitfall("model.predict", ".predict(", None,
            "model.predict returns a NumPy array and cannot run inside tf.function: call model(X)",
            "`model.predict(...)`: it returns a NumPy array, so no gradient flows through it (and it cannot run inside "
            "tf.function); call `model(X)` instead"),
    Pitfall(".numpy()", ".numpy()", "object has no attribute 'numpy'",
            ".numpy() cannot run while the function is compiled: keep everything from X to the loss in TensorFlow "
            "operations",
            "`.numpy()` inside the function: it leaves TensorFlow (no gradient flows through it, and it cannot run "
            "while the function is compiled); keep everything from X to the loss in TensorFlow operations"),
    Pitfall("float()", "float(", "float() argument",
            "float() cannot turn a symbolic tensor into a number: keep the loss a tf.Tensor",
            "`float(...)` on a tensor: it turns the loss into a Python number (no gradient, and it cannot run while "
            "the function is compiled); keep the loss a tf.Tensor"),
    Pitfall("Python bool", None, "Python bool",
            "a Python `if` or `while` on a tensor cannot be compiled (AutoGraph is off): use TensorFlow operations",
            None),
)
"""The one table of the TensorFlow 2 pitfalls (the notebook's and the README's lists name the same; a test checks
it). For a tracing error the failing lines of the student's code decide first, then this order (``model.predict``
fails with the words of ``.numpy()``)."""

COMPILE_PITFALLS = tuple((p.code, p.words, p.fix) for p in PITFALLS)
"""(code on the failing line, words of the error, the fix) of each :data:`PITFALLS` row, in its order."""


def compile_loss_and_gradient(loss_and_gradient, model, l2_reg=DEFAULTS["l2_reg"]):
    """Try to compile an assignment-style gradient function with ``tf.function``.

    ``loss_and_gradient(model, X, target_y, l2_reg) -> (loss, dX)`` is traced once for ``model`` with a fixed
    signature (X float32 (1, 224, 224, 3), target_y int32 scalar, l2_reg float32 scalar; AutoGraph off), run
    on a seeded test image, and compared with its eager result (whatever it returns: the compiled function
    returns the same values, of the same shapes and dtypes; None stays None). A function that creates
    ``tf.Variable(X)`` instead of calling ``tape.watch(X)`` is compiled through :func:`variables_as_watched_tensors`.

    Args:
        loss_and_gradient: the function to compile.
        model: the model it will always be called with.
        l2_reg: the regularization strength used for the comparison.

    Returns:
        ``(function, reason)``: on success a drop-in replacement with the same signature that runs the compiled
        graph for ``model`` (and the original function for any other model), and ``reason`` None; otherwise
        the original function and a one-line reason: the tracing error, with the usual mistake behind it and its
        fix when :data:`COMPILE_PITFALLS` knows it (e.g. ``tf.constant`` on X), or "the compiled function gives
        other values than the eager one".
    """
    compiled, reason = _compile(loss_and_gradient, model, l2_reg)
    if reason is not None and "tf.Variable" in reason:
        import tensorflow as tf

        again, reason2 = _compile(variables_as_watched_tensors(loss_and_gradient, tf), model, l2_reg)
        if reason2 is None:
            return again, None
    return compiled, reason


def _compile(loss_and_gradient, model, l2_reg):
    import tensorflow as tf

    spec = [tf.TensorSpec([1, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32), tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32)]

    def traced(X, target_y, l2):
        return loss_and_gradient(model, X, target_y, l2)

    graph = tf.function(traced, input_signature=spec, autograph=False)
    X = initial_image(np.random.default_rng(12345))
    try:
        outputs = graph(tf.constant(X), tf.constant(76), tf.constant(l2_reg, tf.float32))
        same = _same_values(outputs, loss_and_gradient(model, tf.constant(X), 76, l2_reg))
    except Exception as exc:  # anything a student's function may raise while being traced
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        return loss_and_gradient, f"{type(exc).__name__}: {first_line}" + _pitfall_hint(exc)
    if not same:
        return loss_and_gradient, "the compiled function gives other values than the eager one"

    def compiled(model_, X, target_y, l2_reg_):
        if model_ is not model:
            return loss_and_gradient(model_, X, target_y, l2_reg_)
        return graph(tf.convert_to_tensor(X, tf.float32), tf.constant(int(target_y), tf.int32),
                     tf.constant(float(l2_reg_), tf.float32))

    compiled.__name__ = getattr(loss_and_gradient, "__name__", "compiled_loss_and_gradient")
    compiled.graph = graph
    return compiled, None


def _pitfall_hint(exc) -> str:
    """`` -- <the fix of the usual mistake behind a tracing error>`` (:data:`COMPILE_PITFALLS`), or ''.

    Only the lines of the user's own code count (not TensorFlow's, Keras's or this package's); among the mistakes
    found there, the one the error's own words name wins (``tf.constant(x.numpy())`` fails on ``.numpy()``)."""
    libraries = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, os.path.dirname(__file__)})
    lines = [linecache.getline(frame.f_code.co_filename, lineno)
             for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__)))
             if not os.path.realpath(frame.f_code.co_filename).startswith(libraries)]
    found = [(words, fix) for line in lines for code, words, fix in COMPILE_PITFALLS if code and code in line]
    named = [fix for words, fix in found if words and words in str(exc)]
    fix = (named or [fix for _, fix in found] or
           [fix for _, words, fix in COMPILE_PITFALLS if words and words in str(exc)] or [None])[0]
    return f" -- {fix}" if fix else ""


def _same_values(compiled, eager) -> bool:
    """Compiled and eager outputs hold the same numbers (rtol 1e-3; atol 1e-3 for the loss, 1e-5 for the rest)."""
    import tensorflow as tf

    a, b = tf.nest.flatten(compiled), tf.nest.flatten(eager)
    if len(a) != len(b):
        return False
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            if x is not y:
                return False
            continue
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        atol = COMPILED_LOSS_ATOL if i == 0 else COMPILED_ATOL
        if x.shape != y.shape or not np.allclose(x, y, rtol=COMPILED_RTOL, atol=atol, equal_nan=True):
            return False
    return True
