"""classviz.tf_pitfalls: each common TensorFlow 2 mistake, made for real, is recognized and its fix named.

The reasons come from ``classviz.visualize.compile_loss_and_gradient`` (what the notebook's public tf.function
check and the provided loop use) tracing real mistaken functions on a tiny Keras model, so a TensorFlow release
that words its errors differently fails here rather than silently losing the hints.
"""

from __future__ import annotations

import numpy as np
import pytest

from classviz import tf_pitfalls, visualize


@pytest.fixture(scope="module")
def keras_model():
    """A tiny frozen Keras model with SqueezeNet's signature (so ``model.predict`` is Keras's own)."""
    import keras

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.AveragePooling2D(28), keras.layers.Flatten(),
                              keras.layers.Dense(1000, use_bias=False)])
    model.layers[-1].set_weights([rng.standard_normal((192, 1000)).astype(np.float32)])
    model.trainable = False
    return model


REFERENCE = """
def loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X)
        loss = scores[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)
"""

MISTAKES = {
    # name: (replacement in the reference, what the hint must name)
    "tf_constant": (("tf.convert_to_tensor(X, dtype=tf.float32)", "tf.constant(X)"),
                    ["`tf.constant(...)`", "`tf.convert_to_tensor(X, dtype=tf.float32)`"]),
    "tf_constant_float32": (("tf.convert_to_tensor(X, dtype=tf.float32)", "tf.constant(X, dtype=tf.float32)"),
                            ["`tf.constant(...)`", "`tf.convert_to_tensor(X, dtype=tf.float32)`"]),
    "numpy_on_scores": (("scores = model(X)", "scores = model(X).numpy()"), ["`.numpy()`", "`model(X)`"]),
    "model_predict": (("scores = model(X)", "scores = model.predict(X, verbose=0)"),
                      ["`model.predict(...)`", "`model(X)`"]),
    "float_on_score": (("scores[0, target_y]", "float(scores[0, target_y])"), ["`float(...)`"]),
    "float_on_loss": (("return loss, tape.gradient(loss, X)", "return float(loss), tape.gradient(loss, X)"),
                      ["`float(...)`"]),
    "numpy_function": (("tf.reduce_sum(tf.square(X))", "np.sum(X ** 2)"), ["NumPy functions", "`tf.reduce_sum`"]),
    "no_watch": (("        tape.watch(X)\n", ""), ["`tape.watch(X)`"]),
}


def define(code: str):
    import tensorflow as tf

    namespace = {"tf": tf, "np": np}
    exec(code, namespace)
    return namespace["loss_and_gradient"]


def test_the_reference_compiles_and_gets_no_hint(keras_model):
    _, reason = visualize.compile_loss_and_gradient(define(REFERENCE), keras_model)
    assert reason is None
    assert tf_pitfalls.compile_hint(reason) is None


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_fails_to_compile_and_its_hint_names_the_fix(keras_model, mistake):
    (old, new), named = MISTAKES[mistake]
    assert old in REFERENCE
    _, reason = visualize.compile_loss_and_gradient(define(REFERENCE.replace(old, new)), keras_model)
    assert reason is not None, f"{mistake} compiled"
    hint = tf_pitfalls.compile_hint(reason)
    assert hint is not None, f"no hint for {mistake}: {reason}"
    for text in named:
        assert text in hint, (mistake, hint)


@pytest.mark.parametrize("reason", [
    "TypeError: Expected any non-tensor type, but got a tensor instead.",
    "TypeError: Expected float32, but got Tensor(\"X:0\", shape=(1, 224, 224, 3), dtype=float32) of type "
    "'SymbolicTensor'."])
def test_tf_constant_is_recognized_by_the_exact_error(reason):
    assert tf_pitfalls.compile_hint(reason) == tf_pitfalls.TRACE_ERRORS[0][1]
    assert "tf.convert_to_tensor" in tf_pitfalls.TRACE_ERRORS[0][1]


@pytest.mark.parametrize("reason", [None, "", "NotImplementedError: ", "the compiled function gives other values "
                                    "than the eager one", "ValueError: tf.function only supports singleton "
                                    "tf.Variables created on the first call."])
def test_no_hint_for_what_is_not_a_known_mistake(reason):
    """A tf.Variable in place of tape.watch is accepted by the hidden check: the public check must not fail it."""
    assert tf_pitfalls.compile_hint(reason) is None


def test_not_a_tensor_names_what_was_returned_and_why():
    import tensorflow as tf  # noqa: F401 (the values below are what a student's function returns)

    none_dx = tf_pitfalls.not_a_tensor("dX", None)
    assert none_dx.startswith("dX must be a tf.Tensor, but is None: ") and "`tape.watch(X)`" in none_dx
    none_loss = tf_pitfalls.not_a_tensor("loss", None)
    assert none_loss.startswith("loss must be a tf.Tensor, but is None: ") and "returned" in none_loss
    assert tf_pitfalls.not_a_tensor("loss", 1.5).startswith("loss must be a tf.Tensor, but is a float: ")
    assert tf_pitfalls.not_a_tensor("loss", np.float32(1.5)).startswith(
        "loss must be a tf.Tensor, but is a numpy.float32: ")
    text = tf_pitfalls.not_a_tensor("dX", np.zeros(3, np.float32))
    assert text.startswith("dX must be a tf.Tensor, but is a numpy.ndarray: ")
    for name in ("`.numpy()`", "`float()`", "`model.predict(...)`", "NumPy functions"):
        assert name in text
