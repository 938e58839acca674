"""The grader's NumPy SqueezeNet 1.1 (autograder/numpy_squeezenet.py): the ONNX model's reference outputs, the Keras
model's scores on the same images, and the same scores whatever the batch."""

import subprocess
import sys

import numpy as np
import pytest

import corpus
from autograder.numpy_squeezenet import NumpySqueezeNet
from classviz.settings import initial_image

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def scorer(weights_dir):
    return NumpySqueezeNet(weights_dir)


def onnx_case(weights_dir, k):
    """The ONNX reference input as an NHWC float32 image (raw values in [0, 255]) and its (1, 1000) scores."""
    x = np.load(weights_dir / f"test_data_set/{k}/input_0.npy")
    return np.transpose(x, (0, 2, 3, 1)), np.load(weights_dir / f"test_data_set/{k}/output_0.npy")


@pytest.mark.parametrize("k", [0, 1, 2])
def test_reproduces_onnx_reference_outputs(scorer, weights_dir, k):
    x, expected = onnx_case(weights_dir, k)
    out = scorer(x)
    assert out.shape == (1, 1000) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=2e-4, rtol=0)


def test_same_scores_as_the_keras_model(scorer, squeezenet, weights_dir):
    """Preprocessed noise (the checks' images) and the ONNX inputs, as one batch."""
    X = np.concatenate([initial_image(np.random.default_rng(0), 2)] + [onnx_case(weights_dir, k)[0] for k in range(3)])
    keras_scores = np.asarray(squeezenet(X))
    np.testing.assert_allclose(scorer(X), keras_scores, atol=3e-4, rtol=0)
    assert (scorer(X).argmax(axis=1) == keras_scores.argmax(axis=1)).all()


def test_a_batch_scores_each_image_as_alone(scorer):
    """Computed in float64: the batch (and BLAS's threads) do not change the float32 scores."""
    X = initial_image(np.random.default_rng(1), 3)
    assert np.array_equal(scorer(X), np.concatenate([scorer(X[i:i + 1]) for i in range(3)]))


def test_bad_shape_is_named(scorer):
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\), but was \(224, 224, 3\)"):
        scorer(np.zeros((224, 224, 3), np.float32))


def test_scoring_imports_no_tensorflow(weights_dir):
    code = ("import sys, numpy as np; from autograder.numpy_squeezenet import NumpySqueezeNet; "
            "NumpySqueezeNet(sys.argv[1])(np.zeros((1, 224, 224, 3), np.float32)); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(weights_dir)], cwd=corpus.REPO, check=True)
