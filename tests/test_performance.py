"""The pieces of the fast loop compute what the seed's loop computes (values; timings live in bench/)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

import classviz
from classviz_reference.loop import blur_tensor, class_head_split, compiled_ascent_step, gaussian_kernel1d
from classviz.visualize import BLUR_SIGMA, initial_image
from classviz_reference import create_class_visualization as reference_run


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_gaussian_kernel_is_scipys(sigma):
    w = gaussian_kernel1d(sigma)
    assert len(w) == 2 * int(4.0 * sigma + 0.5) + 1 and w.sum() == pytest.approx(1.0)
    delta = np.zeros(41)
    delta[20] = 1.0  # the filter of a delta is its kernel
    r = len(w) // 2
    np.testing.assert_allclose(w, gaussian_filter1d(delta, sigma)[20 - r:21 + r], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape, sigma", [((2, 224, 224, 3), BLUR_SIGMA), ((1, 9, 7, 3), BLUR_SIGMA),
                                          ((3, 16, 12, 2), 1.0)])
def test_graph_blur_equals_blur_image(shape, sigma):
    import tensorflow as tf

    X = np.random.default_rng(0).uniform(-2.2, 2.7, shape).astype(np.float32)
    X[0, 0, :, 0] = 5.0  # a bright edge row: the 'reflect' border handling is visible
    out = blur_tensor(tf.constant(X), sigma)
    np.testing.assert_allclose(out.numpy(), classviz.blur_image(X, sigma=sigma), rtol=0, atol=1e-6)
    compiled = tf.function(lambda x: blur_tensor(x, sigma))
    np.testing.assert_allclose(compiled(tf.constant(X)).numpy(), out.numpy(), rtol=0, atol=1e-6)


def test_class_head_split_only_takes_the_squeezenet(linear_model):
    import keras

    assert class_head_split(linear_model) is None
    x = keras.Input((224, 224, 3))
    other = keras.Model(x, keras.layers.GlobalAveragePooling2D(name="global_avg_pool")(
        keras.layers.Conv2D(1000, 1, name="conv25")(x)))  # no ReLU: not SqueezeNet's classifier
    assert class_head_split(other) is None
    features, kernel, bias = class_head_split(classviz.build_squeezenet())
    assert features.output_shape == (None, 13, 13, 512)
    assert tuple(kernel.shape) == (1, 1, 512, 1000) and tuple(bias.shape) == (1000,)


def _head_and_full_steps(model, X, targets, blur):
    import tensorflow as tf

    args = (tf.constant(targets, tf.int32), tf.constant(-7), tf.constant(11), tf.constant(1e-3), tf.constant(25.0),
            tf.constant(blur), tf.constant(True))
    head = compiled_ascent_step(model, len(targets))(tf.constant(X), *args)
    full = compiled_ascent_step(model, len(targets), class_head=False)(tf.constant(X), *args)
    np.testing.assert_allclose(head[2].numpy(), full[2].numpy(), rtol=1e-4, atol=1e-4)  # all 1000 scores
    return [t.numpy() for t in head[:2]], [t.numpy() for t in full[:2]]


def test_target_column_head_equals_the_full_model_random_weights():
    import keras

    keras.utils.set_random_seed(0)
    model = classviz.build_squeezenet()  # Keras' random initialization: no download needed
    X = initial_image(np.random.default_rng(5), 2)
    all_scores = np.asarray(model(classviz.jitter(X, -7, 11)))
    targets = [int(all_scores[0].argmax()), int(all_scores[1].argsort()[-2])]  # classes with positive scores
    (X_head, s_head), (X_full, s_full) = _head_and_full_steps(model, X, targets, blur=True)
    expected_scores = all_scores[[0, 1], targets]
    assert np.all(expected_scores > 0)  # the comparison is not between two zeros
    np.testing.assert_allclose(s_head, expected_scores, rtol=1e-5)
    np.testing.assert_allclose(s_full, expected_scores, rtol=1e-5)
    np.testing.assert_allclose(X_head, X_full, rtol=0, atol=1e-5)
    assert np.abs(X_head - X).max() > 1e-2  # the step moved the image


@pytest.mark.weights
def test_target_column_head_equals_the_full_model(squeezenet):
    X = initial_image(np.random.default_rng(6), 3)
    (X_head, s_head), (X_full, s_full) = _head_and_full_steps(squeezenet, X, [76, 130, 963], blur=False)
    np.testing.assert_allclose(s_head, s_full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(X_head, X_full, rtol=0, atol=1e-5)


def test_loop_is_seeded_and_reports_per_iteration_scores(linear_model):
    a = reference_run([1, 2, 3], linear_model, num_iterations=7, seed=3, blur_every=2)
    b = reference_run([1, 2, 3], linear_model, num_iterations=7, seed=np.random.default_rng(3),
                                   blur_every=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert len(a.history) == 7 and all(h.shape == (3,) and h.dtype == np.float32 for h in a.history)
    assert isinstance(a.images, np.ndarray) and a.images.dtype == np.float32 and a.images.shape == (3, 224, 224, 3)
    assert len(a.seconds) == 7 and np.all(np.diff(a.seconds) >= 0) and a.ms_per_iteration > 0  # recorded, not judged
    assert np.isnan(reference_run(1, linear_model, num_iterations=1).ms_per_iteration)


def test_callback_gets_a_numpy_copy(linear_model):
    seen = []

    def callback(t, X):
        assert isinstance(X, np.ndarray) and X.shape == (1, 224, 224, 3)
        seen.append(X.copy())
        X[...] = 0.0  # a callback that scribbles on its argument cannot change the run

    result = reference_run(4, linear_model, num_iterations=3, show_every=1, callback=callback, seed=1)
    clean = reference_run(4, linear_model, num_iterations=3, seed=1)
    np.testing.assert_array_equal(result.images, clean.images)
    np.testing.assert_array_equal(seen[-1], clean.images)
