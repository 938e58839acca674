"""The student process's integrity snapshot covers what the provided loop's compiler and step call.

``classviz/visualize.py`` was split by concern (issue 16): the compiler of the student's gradient and its helpers
now live in ``classviz.tf_compile``, ``classviz.tf_variables`` and ``classviz.settings``. Replacing any function
they call must still be seen as tampering, as replacing it in ``classviz.visualize`` was before the split.
"""

import importlib

import numpy as np
import pytest

from autograder.child.bindings import Integrity


@pytest.mark.parametrize("module, name", [
    ("classviz.visualize", "assignment_step"), ("classviz.visualize", "compile_loss_and_gradient"),
    ("classviz.tf_compile", "_compile"), ("classviz.tf_compile", "_same_values"),
    ("classviz.tf_compile", "initial_image"), ("classviz.tf_compile", "variables_as_watched_tensors"),
    ("classviz.settings", "preprocess_image"), ("classviz.tf_variables", "functools"),
])
def test_replacing_what_the_compiler_calls_is_tampering(module, name):
    import tensorflow as tf

    from classviz import visualize

    integrity = Integrity(np, tf, visualize)
    target = importlib.import_module(module)
    real = getattr(target, name)
    setattr(target, name, lambda *args, **kwargs: None)
    try:
        assert integrity.changes() == [f"{module}.{name}"]
    finally:
        setattr(target, name, real)
    assert integrity.changes() == []
