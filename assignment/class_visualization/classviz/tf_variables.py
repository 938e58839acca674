"""Compile a gradient function that creates ``tf.Variable(X)`` instead of calling ``tape.watch(X)``.

Rule of this module: :func:`variables_as_watched_tensors` changes what ``tf.Variable`` and ``tf.GradientTape`` are
only while the wrapped function runs in graph mode (inside ``tf.function``), and restores both after each call;
eagerly, nothing changes. :func:`classviz.tf_compile.compile_loss_and_gradient` uses it when a tracing error names
``tf.Variable``.
"""

from __future__ import annotations

import functools


def variables_as_watched_tensors(fn, tf):
    """Wrap a gradient function so that, while it is traced by ``tf.function``, ``tf.Variable(x)`` is a tensor.

    A legitimate answer may create ``tf.Variable(X)`` instead of calling ``tape.watch(X)``; ``tf.function``
    refuses to create a variable on every call ("only supports singleton tf.Variables"). While the wrapper runs
    in graph mode, ``tf.Variable(x)`` returns ``tf.identity(x)`` watched by every ``tf.GradientTape`` that is or
    becomes active during the call, which computes the same loss and gradient; in eager mode nothing changes.
    ``tf.Variable`` and ``tf.GradientTape`` are restored after each call.
    """
    real_variable, real_tape = tf.Variable, tf.GradientTape

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if tf.executing_eagerly():
            return fn(*args, **kwargs)
        created, active = [], []

        class _Meta(type):
            def __instancecheck__(cls, obj):
                return isinstance(obj, real_variable)

            def __subclasscheck__(cls, sub):
                return issubclass(sub, real_variable)

        class Variable(metaclass=_Meta):
            def __new__(cls, initial_value=None, *vargs, **vkwargs):
                if callable(initial_value) or tf.executing_eagerly():
                    return real_variable(initial_value, *vargs, **vkwargs)
                value = tf.identity(tf.convert_to_tensor(initial_value, dtype=vkwargs.get("dtype")))
                for tape in active:
                    tape.watch(value)
                created.append(value)
                return value

        class GradientTape(real_tape):
            def __enter__(self):
                tape = super().__enter__()
                for value in created:
                    tape.watch(value)
                active.append(tape)
                return tape

            def __exit__(self, *exc):
                if self in active:
                    active.remove(self)
                return super().__exit__(*exc)

        tf.Variable, tf.GradientTape = Variable, GradientTape
        try:
            return fn(*args, **kwargs)
        finally:
            tf.Variable, tf.GradientTape = real_variable, real_tape

    return wrapper
