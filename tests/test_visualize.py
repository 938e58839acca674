"""The reference objective, the compiled reference loop and the step loop, on a stand-in with known gradients."""

import re

import numpy as np
import pytest

import classviz
from classviz_reference import compiled_ascent_step, reference_loss_and_gradient
from classviz_reference import create_class_visualization as reference_run
from classviz.visualize import (BLUR_SIGMA, assignment_step, compile_loss_and_gradient,
                                create_class_visualization, initial_image)


def test_reference_gradient_is_known_exactly(linear_model):
    X = initial_image(np.random.default_rng(0))
    loss, dX = reference_loss_and_gradient(linear_model, X, 76, 1e-3)
    expected_loss = float(linear_model(X)[0, 76]) - 1e-3 * float(np.sum(X.astype(np.float64) ** 2))
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-4)
    np.testing.assert_allclose(dX.numpy(), linear_model.score_gradient(76) - 2e-3 * X, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("blur", [False, True])
def test_compiled_step_equals_the_seed_iteration(linear_model, batch_size, blur):
    import tensorflow as tf

    X = initial_image(np.random.default_rng(1), 2)
    targets = [76, 130]
    step = compiled_ascent_step(linear_model, batch_size)
    out, scores, all_scores, finite = step(tf.constant(X), tf.constant(targets), tf.constant(3), tf.constant(-5),
                                           tf.constant(1e-3), tf.constant(25.0), tf.constant(blur), tf.constant(True))
    Xj = classviz.jitter(X, 3, -5)
    grad = np.concatenate([linear_model.score_gradient(y) for y in targets]) - 2e-3 * Xj
    expected = classviz.clip_to_valid_range(classviz.unjitter(Xj + 25.0 * grad, 3, -5))
    if blur:
        expected = classviz.blur_image(expected, sigma=BLUR_SIGMA)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), np.asarray(linear_model(Xj))[[0, 1], targets], rtol=1e-5)
    np.testing.assert_allclose(all_scores.numpy(), np.asarray(linear_model(Xj)), rtol=1e-5, atol=1e-5)
    assert finite.numpy().tolist() == [True, True]
    assert compiled_ascent_step(linear_model, batch_size) is step  # cached per model and batch size
    assert step.experimental_get_tracing_count() == 1  # blur is a tensor too: one graph for both cases


class _CountingModel:
    """Wraps a stand-in and counts the Python calls of the model: one per trace, plus every eager call."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, X):
        self.calls += 1
        return self.model(X)


def test_no_retracing_over_50_iterations(linear_model):
    model = _CountingModel(linear_model)
    reference_run(3, model, num_iterations=50, seed=0)
    # one trace of the step + one of the forward pass that checks every iteration's image (keep="leading") + the
    # final (eager) scores; not one per iteration
    assert model.calls == 3
    reference_run(7, model, num_iterations=50, seed=1, l2_reg=0.5, learning_rate=2.0, blur_every=3,
                               max_jitter=30)
    assert model.calls == 4  # new class, hyper-parameters and offsets: no new trace, only the final scores
    reference_run([5, 6], model, num_iterations=50, seed=2)
    assert model.calls == 6  # a new batch size: the step's own graph, traced once (the forward pass takes any size)
    reference_run(3, model, num_iterations=50, seed=0, keep="last")
    assert model.calls == 7  # no check of every iteration: only the final scores
    assert compiled_ascent_step(model, 1).experimental_get_tracing_count() == 1
    assert compiled_ascent_step(model, 2).experimental_get_tracing_count() == 1


def _student_style_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)
    return X + learning_rate * dX.numpy()


def test_student_step_path_matches_reference_path(linear_model):
    kwargs = dict(num_iterations=12, blur_every=5, max_jitter=4, l2_reg=1e-2, learning_rate=3.0, seed=42)
    ref = reference_run(76, linear_model, **kwargs)
    mine = create_class_visualization(76, linear_model, step=_student_style_step, **kwargs)
    np.testing.assert_allclose(mine.images, ref.images, rtol=1e-4, atol=1e-4)
    again = reference_run(76, linear_model, **kwargs)
    np.testing.assert_array_equal(again.images, ref.images)  # seeded: identical


def test_callback_follows_the_seed_display_rule(linear_model):
    shown = []
    reference_run(1, linear_model, num_iterations=60, show_every=25,
                               callback=lambda t, X: shown.append(t))
    assert shown == [0, 24, 49, 59]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(learning_rate=-1.0), ValueError, "learning_rate must be > 0, but got -1.0"),
    (dict(learning_rate="fast"), TypeError, "learning_rate must be a real number, but got 'fast'"),
    (dict(num_iterations=-5), ValueError, "num_iterations must be >= 0, but got -5"),
    (dict(num_iterations=2.5), TypeError, "num_iterations must be an integer"),
    (dict(l2_reg=float("nan")), ValueError, "l2_reg must be finite"),
    (dict(blur_evry=3), TypeError, "unknown keyword argument(s) ['blur_evry']"),
])
def test_bad_hyperparameters(linear_model, kwargs, error, words):
    with pytest.raises(error) as info:
        reference_run(76, linear_model, **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("target, error", [(-1, ValueError), (1000, ValueError), (3.5, TypeError),
                                           ("no such class", ValueError)])
def test_bad_target(linear_model, target, error):
    with pytest.raises(error):
        reference_run(target, linear_model, num_iterations=1)


def test_bad_start_image(linear_model):
    with pytest.raises(ValueError, match=r"shape \(N, 224, 224, 3\).*\(224, 224, 3\)"):
        reference_run(1, linear_model, X0=np.zeros((224, 224, 3), np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        reference_run(1, linear_model, X0=np.full((1, 224, 224, 3), np.inf, np.float32))


@pytest.mark.weights
def test_short_run_on_real_weights_raises_the_target_score(squeezenet):
    X0 = initial_image(np.random.default_rng(0))
    before = float(np.asarray(squeezenet(X0))[0, 76])
    result = reference_run(76, squeezenet, num_iterations=20, seed=0)
    assert result.target_scores[0] > before + 20.0, (before, result.target_scores)
    assert result.history[-1][0] > result.history[0][0]


@pytest.mark.weights
@pytest.mark.slow
def test_command_line_main_job(tmp_path, squeezenet, weights_dir, capsys):
    from PIL import Image

    from classviz_reference.__main__ import main

    out = tmp_path / "t.png"
    assert main(["visualize", "--class", "tarantula", "--iterations", "100", "--seed", "0", "--out", str(out),
                 "--weights", str(weights_dir), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"t\.png: 76 tarantula: top-1 by iteration \d+ \(checked every iteration\), raw score [\d.]+ -> [\d.]+\n",
                     printed), printed
    assert "top-5: 76 tarantula" in printed
    img = np.asarray(Image.open(out))
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    scores = np.asarray(squeezenet(classviz.preprocess_image(img)[None]))[0]
    assert scores.argmax() == 76  # the saved PNG itself is classified as a tarantula


def _numpy_gradient(model, X, target_y, l2_reg):
    # a legitimate eager-only answer: .numpy() cannot run while tracing
    loss, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)
    return loss, dX.numpy()


def test_compile_loss_and_gradient_compiles_or_explains(linear_model):
    compiled, reason = compile_loss_and_gradient(reference_loss_and_gradient, linear_model)
    assert reason is None and compiled.graph.experimental_get_tracing_count() == 1
    X = initial_image(np.random.default_rng(3))
    loss, dX = compiled(linear_model, X, 130, 1e-3)
    np.testing.assert_allclose(dX.numpy(), linear_model.score_gradient(130) - 2e-3 * X, rtol=1e-4, atol=1e-6)
    compiled(linear_model, X, 5, 0.5)
    assert compiled.graph.experimental_get_tracing_count() == 1  # class and l2_reg are tensors: no retrace
    same, reason = compile_loss_and_gradient(_numpy_gradient, linear_model)
    assert same is _numpy_gradient
    assert reason == ("AttributeError: 'SymbolicTensor' object has no attribute 'numpy' -- .numpy() cannot run while "
                      "the function is compiled: keep everything from X to the loss in TensorFlow operations")


def test_assignment_step_runs_the_update_step_with_the_compiled_gradient(linear_model):
    namespace = {"np": np}
    exec("def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):\n"
         "    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)\n"
         "    return X + learning_rate * np.asarray(dX)\n", namespace)
    calls = []

    def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
        calls.append(type(X).__name__)
        return reference_loss_and_gradient(model, X, target_y, l2_reg)
    namespace["class_visualization_loss_and_gradient"] = class_visualization_loss_and_gradient
    step, reason = assignment_step(namespace["class_visualization_update_step"],
                                   class_visualization_loss_and_gradient, linear_model)
    assert reason is None
    kwargs = dict(num_iterations=6, max_jitter=3, seed=9, l2_reg=1e-3)
    calls.clear()
    mine = create_class_visualization(76, linear_model, step=step, **kwargs)
    assert calls == []  # the eager function was not called: its compiled graph ran instead
    assert namespace["class_visualization_loss_and_gradient"] is class_visualization_loss_and_gradient
    ref = reference_run(76, linear_model, **kwargs)
    np.testing.assert_allclose(mine.images, ref.images, rtol=1e-4, atol=1e-4)


@pytest.mark.weights
def test_command_line_several_classes_is_one_batch_with_a_grid(tmp_path, weights_dir, capsys):
    from PIL import Image

    from classviz_reference.__main__ import main

    out = tmp_path / "many.png"
    assert main(["visualize", "--class", "tarantula", "flamingo", "963", "tarantula", "--iterations", "3",
                 "--out", str(out), "--weights", str(weights_dir)]) == 0
    captured = capsys.readouterr()
    names = ["many_76_tarantula.png", "many_130_flamingo.png", "many_963_pizza.png", "many_76_tarantula_2.png"]
    for name, label in zip(names, ["76 tarantula", "130 flamingo", "963 pizza", "76 tarantula"]):
        assert Image.open(tmp_path / name).size == (224, 224)
        line = next(line for line in captured.out.splitlines() if line.startswith(f"{tmp_path / name}: "))
        assert re.search(rf": {label}: (top-1 by iteration \d+|not top-1 \(rank \d+; top-1 is [^)]+\))", line), line
    grid = Image.open(tmp_path / "many_grid.png")
    assert grid.size[0] > 3 * grid.size[1]  # one row of four titled panels
    assert "3 iterations of 4 image(s)" in captured.out and "ms/iteration" in captured.out
    assert "gradient ascent" in captured.err and "3/3" in captured.err  # the progress bar, on stderr
    assert not (tmp_path / "many.png").exists()


def _tf_constant_gradient(model, X, target_y, l2_reg):
    import tensorflow as tf

    X = tf.constant(X)  # the common mistake: works eagerly, cannot take a symbolic tensor
    return reference_loss_and_gradient(model, X, target_y, l2_reg)


def _predict_gradient(model, X, target_y, l2_reg):
    import tensorflow as tf

    X = tf.convert_to_tensor(X, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model.predict(X, verbose=0)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)


def _keras_stand_in():
    import keras

    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.AveragePooling2D(56), keras.layers.Flatten(),
                              keras.layers.Dense(1000, use_bias=False)])
    model.trainable = False
    return model


@pytest.mark.parametrize("fn, model, words", [
    (_tf_constant_gradient, None, "Expected any non-tensor type, but got a tensor instead. -- X = tf.constant(X) "
                                  "cannot take the symbolic tensor tf.function passes in: use X = "
                                  "tf.convert_to_tensor(X, dtype=tf.float32)"),
    (_numpy_gradient, None, "-- .numpy() cannot run while the function is compiled"),
    (_predict_gradient, _keras_stand_in, "-- model.predict returns a NumPy array and cannot run inside tf.function: "
                                         "call model(X)"),
])
def test_compile_failures_name_the_tensorflow_pitfall_and_its_fix(linear_model, fn, model, words):
    compiled, reason = compile_loss_and_gradient(fn, model() if model else linear_model)
    assert compiled is fn and words in reason


def _not_scalar_no_gradient(model, X, target_y, l2_reg):
    import tensorflow as tf

    loss = tf.reshape(reference_loss_and_gradient(model, X, target_y, l2_reg)[0], (1,))
    return loss, None


def test_what_compiles_is_compiled_whatever_it_returns(linear_model):
    """The loop compiles any function tf.function can trace; the outputs are the other checks' business."""
    compiled, reason = compile_loss_and_gradient(_not_scalar_no_gradient, linear_model)
    assert reason is None
    X = initial_image(np.random.default_rng(3))
    loss, dX = compiled(linear_model, X, 130, 1e-3)
    assert loss.shape == (1,) and dX is None
    np.testing.assert_allclose(loss.numpy(), _not_scalar_no_gradient(linear_model, X, 130, 1e-3)[0].numpy(),
                               rtol=1e-5)


def _variable_instead_of_watch(model, X, target_y, l2_reg):
    import tensorflow as tf

    X = tf.Variable(tf.convert_to_tensor(X, tf.float32))
    with tf.GradientTape() as tape:
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)


def test_a_variable_instead_of_tape_watch_is_compiled(linear_model):
    compiled, reason = compile_loss_and_gradient(_variable_instead_of_watch, linear_model)
    assert reason is None and compiled.graph.experimental_get_tracing_count() == 1
    X = initial_image(np.random.default_rng(4))
    _, dX = compiled(linear_model, X, 7, 1e-3)
    np.testing.assert_allclose(dX.numpy(), linear_model.score_gradient(7) - 2e-3 * X, rtol=1e-4, atol=1e-6)


def _numpy_inside_tf_constant(model, X, target_y, l2_reg):
    import tensorflow as tf

    loss, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)
    return loss, tf.constant(dX.numpy())  # fails on .numpy(), on a line that also holds tf.constant


def test_the_pitfall_named_is_the_one_the_error_is_about(linear_model):
    _, reason = compile_loss_and_gradient(_numpy_inside_tf_constant, linear_model)
    assert reason.endswith("-- .numpy() cannot run while the function is compiled: keep everything from X to the loss "
                           "in TensorFlow operations")
