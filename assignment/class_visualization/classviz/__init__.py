"""classviz: class visualization (Simonyan et al. 2014; Yosinski et al. 2015) with SqueezeNet 1.1 in TF2.

Public helpers used by the assignment notebook, the autograder and the command line
(``python -m classviz --help``). TensorFlow is imported lazily, only by the functions that need it.
"""

import os as _os

# TensorFlow's C++ start-up lines go to stderr, which nbgrader counts as a failed test cell.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .classes import NUM_CLASSES, class_index, class_name, class_names  # noqa: E402
from .image import (PREPROCESSED_MAX, PREPROCESSED_MIN, SQUEEZENET_MEAN, SQUEEZENET_STD,  # noqa: E402
                    clip_to_valid_range, deprocess_image, preprocess_image)
from .squeezenet import IMAGE_SIZE, build_squeezenet, load_squeezenet  # noqa: E402
from .transforms import blur_image, jitter, random_jitter_offsets, unjitter  # noqa: E402

__all__ = [
    "NUM_CLASSES", "IMAGE_SIZE", "SQUEEZENET_MEAN", "SQUEEZENET_STD", "PREPROCESSED_MIN", "PREPROCESSED_MAX",
    "class_index", "class_name", "class_names", "preprocess_image", "deprocess_image", "clip_to_valid_range",
    "blur_image", "jitter", "unjitter", "random_jitter_offsets", "build_squeezenet", "load_squeezenet",
]
