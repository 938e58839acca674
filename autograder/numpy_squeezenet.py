"""SqueezeNet 1.1's forward pass in plain NumPy: the grader scores images without TensorFlow (grader side only).

Rule of this module: float32 (N, 224, 224, 3) preprocessed NHWC images => float32 (N, 1000) raw class scores s_y(I)
(after the last ReLU and global average pooling; no softmax), with the same 52 verified tensors and architecture as
:func:`classviz.load_squeezenet` (ONNX Model Zoo ``squeezenet1.1-7``; torchvision ``squeezenet1_1``).

Why NumPy here: the hidden check ``score_increase`` scores the student's images on the grader's own network (a
student process cannot be trusted to score its own), and with stored reference values
(:mod:`autograder.reference_store`) that is the only thing the grader process would need TensorFlow for -- about
540 MiB and several seconds of import per grader process, competing with the student's process for the cores. A
forward pass is a few matrix products (im2col: :func:`numpy.lib.stride_tricks.sliding_window_view` + ``tensordot``),
about 0.1 s per image on one core. It computes in float64, so its scores are the same whatever the batch size and
the number of BLAS threads (float32 sums change with both); they differ from the Keras model's float32 scores by
about 1e-4 (scores reach ~300), and the reference values the check compares them with are scored here too
(:meth:`autograder.references.References.build`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from classviz.squeezenet import (_FIRES, _POOL_BEFORE, IMAGE_SIZE, NUM_CONVS, _ceil_mode_extra_padding,
                                 load_weight_arrays)


class NumpySqueezeNet:
    """The pretrained SqueezeNet 1.1 as a NumPy function of images (see the module docstring).

    Args:
        weights: folder holding ``weights/squeezenet0_conv*.npy`` (verified by SHA-256,
            :func:`classviz.squeezenet.load_weight_arrays`).

    Raises:
        FileNotFoundError, ValueError: a weights file is missing or does not match its SHA-256.
    """

    numpy_model = True
    """Called on NumPy arrays and never traced by the provided loop (:func:`classviz.squeezenet.scores_function`)."""

    def __init__(self, weights):
        arrays = load_weight_arrays(weights)
        # OIHW -> (kh, kw, I, O): the order of an im2col row (window position, then channel)
        self.convs = [(np.ascontiguousarray(np.transpose(arrays[f"conv{i}_weight"], (2, 3, 1, 0)), np.float64),
                       arrays[f"conv{i}_bias"].astype(np.float64)) for i in range(NUM_CONVS)]

    def __call__(self, X) -> np.ndarray:
        """Raw class scores: float32 (N, 224, 224, 3) preprocessed images -> float32 (N, 1000) (computed in float64).

        Raises:
            ValueError: ``X`` is not of shape (N, 224, 224, 3).
        """
        x = np.asarray(X, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"X must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), but was {x.shape}")
        x = self._conv(x.astype(np.float64), 0, stride=2)  # the float32 image, exactly
        k = 1
        for i in range(len(_FIRES)):
            if i in _POOL_BEFORE:
                x = _max_pool(x)
            s = self._conv(x, k)
            x = np.concatenate([self._conv(s, k + 1), self._conv(s, k + 2, pad=1)], axis=-1)
            k += 3
        return self._conv(x, k).mean(axis=(1, 2)).astype(np.float32)

    def _conv(self, x, k, stride=1, pad=0):
        """Convolution ``conv{k}`` (bias, then ReLU) of NHWC ``x``."""
        w, b = self.convs[k]
        kh, kw = w.shape[:2]
        if kh == 1:
            out = x @ w[0, 0]
        else:
            if pad:
                x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            # (N, H', W', C, kh, kw) windows -> (N, H', W', kh, kw, C) rows matching w's (kh, kw, C, O)
            windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
            out = np.tensordot(windows.transpose(0, 1, 2, 4, 5, 3), w, axes=3)
        out += b
        return np.maximum(out, 0, out=out)


def _max_pool(x):
    """3x3, stride 2, ceil-mode max pool of post-ReLU NHWC ``x`` (zero padding never changes a maximum)."""
    extra = _ceil_mode_extra_padding(x.shape[1])
    if extra:
        x = np.pad(x, ((0, 0), (0, extra), (0, extra), (0, 0)))
    return sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(-2, -1))
