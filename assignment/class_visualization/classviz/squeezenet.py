"""SqueezeNet 1.1 (Iandola et al. 2016) in TensorFlow 2 / Keras, with the ONNX Model Zoo weights.

Rule of this module: the model maps float32 NHWC preprocessed images (N, 224, 224, 3) to (N, 1000) raw
class scores s_y(I) (after the last ReLU and global average pooling; no softmax), exactly like the ONNX
Model Zoo ``squeezenet1.1-7`` export it is loaded from (tensors ``squeezenet0_conv{0..25}_{weight,bias}``,
OIHW layout; architecture as torchvision ``squeezenet1_1``; see PROVENANCE of the weights).

Layer names follow the upstream tensors (``conv0`` ... ``conv25``) so that each Keras layer can be traced
back to its file.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path

import numpy as np

from . import weights as _weights

IMAGE_SIZE = 224
"""Input height and width in pixels."""

NUM_CONVS = 26
# Fire modules: (squeeze, expand1x1, expand3x3) channels; the index of each fire's squeeze conv is
# 1 + 3 * k. A 3x3/2 ceil-mode max pool comes before the fires at positions in _POOL_BEFORE.
_FIRES = ((16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
          (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256))
_POOL_BEFORE = (0, 2, 4)


def _ceil_mode_extra_padding(size: int, kernel: int = 3, stride: int = 2) -> int:
    """Bottom/right padding that makes a 'valid' max pool produce the ceil-mode output size."""
    ceil_out = math.ceil((size - kernel) / stride) + 1
    if (ceil_out - 1) * stride >= size:  # PyTorch/ONNX rule: the last window must start inside the input
        ceil_out -= 1
    return max(0, (ceil_out - 1) * stride + kernel - size)


def load_weight_arrays(folder) -> dict[str, np.ndarray]:
    """Read and verify the 52 upstream tensors from ``folder`` (the ``weights/`` group's parent).

    Args:
        folder: a folder holding ``weights/squeezenet0_conv{k}_{weight,bias}.npy``.

    Returns:
        ``{"conv0_weight": array (64, 3, 3, 3) float32 OIHW, "conv0_bias": (64,), ...}``.

    Raises:
        FileNotFoundError: the folder or a file is missing (the message names the fetch command).
        ValueError: a file's SHA-256 does not match the manifest (corrupted or truncated).
    """
    folder = Path(folder)
    fix = ("run `python -m classviz fetch-weights` (or ./setup.sh), or pass the folder that holds "
           "weights/squeezenet0_conv*.npy")
    if not folder.is_dir():
        raise FileNotFoundError(f"SqueezeNet weights folder {folder} does not exist; {fix}")
    arrays = {}
    for rel, digest in _weights.read_manifest(("weights",)).items():
        path = folder / rel
        if not path.is_file():
            raise FileNotFoundError(f"SqueezeNet weights file {path} is missing; {fix}")
        if _weights.sha256_file(path) != digest:
            raise ValueError(f"SqueezeNet weights file {path} does not match its SHA-256 (corrupted or "
                             f"truncated); delete it and {fix}")
        key = Path(rel).stem.removeprefix("squeezenet0_")
        arrays[key] = np.load(path, allow_pickle=False)
    return arrays


def build_squeezenet(arrays: dict[str, np.ndarray] | None = None):
    """Build the SqueezeNet 1.1 Keras model, optionally with pretrained tensors.

    Args:
        arrays: the result of :func:`load_weight_arrays` (OIHW weights are transposed to Keras' HWIO
            here), or None for Keras' random initialization (for tests of the architecture only).

    Returns:
        A frozen (``trainable=False``) ``keras.Model`` named ``squeezenet1_1``: float32
        (N, 224, 224, 3) preprocessed NHWC -> float32 (N, 1000) raw class scores.
    """
    import keras
    from keras import layers

    def conv(filters, kernel, k, stride=1, padding="valid"):
        return layers.Conv2D(filters, kernel, strides=stride, padding=padding, activation="relu",
                             name=f"conv{k}")

    def max_pool(x, k):
        extra = _ceil_mode_extra_padding(int(x.shape[1]))
        if extra:  # inputs are post-ReLU (>= 0), so zero padding never changes a maximum
            x = layers.ZeroPadding2D(((0, extra), (0, extra)), name=f"ceil_pad{k}")(x)
        return layers.MaxPooling2D(3, 2, padding="valid", name=f"maxpool{k}")(x)

    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), dtype="float32", name="image")
    x = conv(64, 3, 0, stride=2)(image)
    k = 1
    for i, (squeeze, e1, e3) in enumerate(_FIRES):
        if i in _POOL_BEFORE:
            x = max_pool(x, i)
        s = conv(squeeze, 1, k)(x)
        x = layers.Concatenate(axis=-1, name=f"fire{i}_concat")(
            [conv(e1, 1, k + 1)(s), conv(e3, 3, k + 2, padding="same")(s)])
        k += 3
    x = conv(1000, 1, k)(x)  # conv25: the classifier (dropout is the identity at inference)
    scores = layers.GlobalAveragePooling2D(name="global_avg_pool")(x)
    model = keras.Model(image, scores, name="squeezenet1_1")
    if arrays is not None:
        for i in range(NUM_CONVS):
            model.get_layer(f"conv{i}").set_weights(
                [np.transpose(arrays[f"conv{i}_weight"], (2, 3, 1, 0)), arrays[f"conv{i}_bias"]])
    model.trainable = False
    return model


def load_squeezenet(weights=None):
    """Return the pretrained SqueezeNet 1.1 as a frozen Keras model of raw class scores.

    Args:
        weights: folder holding ``weights/squeezenet0_conv*.npy`` (the upstream layout). None uses
            :func:`classviz.weights.default_dest` and fetches any missing file there first (from
            ``$CLASSVIZ_WEIGHTS_MIRROR`` if set, else the network), verified by SHA-256.

    Returns:
        ``keras.Model``: float32 (N, 224, 224, 3) preprocessed NHWC images (see
        :func:`classviz.preprocess_image`) -> float32 (N, 1000) raw (pre-softmax) scores.
        It reproduces the ONNX model's outputs on its reference inputs to about 1e-4.

    Raises:
        FileNotFoundError: the given folder or one of its files is missing.
        ValueError: a file does not match its SHA-256.
        classviz.weights.WeightsError: fetching the default weights failed (message names the fix).
    """
    if weights is None:
        weights = _weights.fetch(("weights",))
    return build_squeezenet(load_weight_arrays(weights))


_FORWARDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def scores_function(model):
    """``model`` as a function of float32 (None, 224, 224, 3) images -> (N, 1000) raw scores: a ``tf.function``
    traced once, or the model itself when it computes in NumPy (``model.numpy_model`` true; no TensorFlow needed).

    A Keras model called eagerly costs about 100 ms per call here, its traced graph about 12 ms. Cached per
    model (weakly: the cache does not keep the model alive).
    """
    if getattr(model, "numpy_model", False):
        return model
    if model in _FORWARDS:
        return _FORWARDS[model]
    import tensorflow as tf

    model_ref = weakref.ref(model)
    forward = tf.function(lambda X: model_ref()(X), autograph=False,
                          input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)])
    _FORWARDS[model] = forward
    return forward


def raw_scores(model, X) -> np.ndarray:
    """float32 (N, 1000) raw scores of float32 (N, 224, 224, 3) images, by one eager call of ``model`` (on ``X``
    itself when the model computes in NumPy, ``model.numpy_model`` true; else on ``tf.constant(X)``)."""
    if getattr(model, "numpy_model", False):
        return np.asarray(model(X), dtype=np.float32)
    import tensorflow as tf

    return np.asarray(model(tf.constant(X)), dtype=np.float32)
