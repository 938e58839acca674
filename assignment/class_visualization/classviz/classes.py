"""ImageNet-1k class names in the standard index order (0 = tench, 76 = tarantula, 999 = toilet tissue).

The names are the short WordNet lemmas of Keras' ``imagenet_class_index.json`` with underscores shown as
spaces; the index order is the one every ImageNet-1k classifier (SqueezeNet 1.1 of the ONNX Model Zoo
included) uses. Two names occur twice in ImageNet-1k: "crane" (134, the bird; 517, the machine) and
"maillot" (638, 639); looking them up by name raises and lists both indices.
"""

from __future__ import annotations

import difflib
import numbers
from functools import lru_cache
from pathlib import Path

NUM_CLASSES = 1000


@lru_cache(maxsize=1)
def _load() -> tuple[str, ...]:
    names = (Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8").splitlines())
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"imagenet_classes.txt must list {NUM_CLASSES} names, found {len(names)}")
    return tuple(names)


def class_names() -> tuple[str, ...]:
    """All 1000 ImageNet-1k class names; ``class_names()[76] == 'tarantula'``."""
    return _load()


def _normalize(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def class_name(index) -> str:
    """Return the name of ImageNet class ``index``.

    Raises:
        TypeError: ``index`` is not an integer.
        ValueError: ``index`` is outside [0, 1000).
    """
    return _load()[check_class_index(index)]


def check_class_index(index) -> int:
    """Return ``index`` as ``int`` after checking it is an integer in [0, 1000).

    Raises:
        TypeError: not an integer (floats such as 3.5 and bools are refused).
        ValueError: outside [0, 1000).
    """
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"a class index must be an integer in [0, {NUM_CLASSES}), "
                        f"but got {index!r} of type {type(index).__name__}")
    if not 0 <= index < NUM_CLASSES:
        raise ValueError(f"a class index must be in [0, {NUM_CLASSES}), but got {index}")
    return int(index)


def class_index(name_or_index) -> int:
    """Resolve a class given by name (case-insensitive, '_' or ' ') or by index to its index.

    Strings of digits (as typed on a command line, e.g. ``"76"``) are read as indices.

    Raises:
        TypeError: neither a string nor an integer.
        ValueError: an unknown name (the message suggests close matches), an ambiguous name (the message
            lists the indices to choose from), or an index outside [0, 1000).
    """
    if isinstance(name_or_index, str):
        text = name_or_index.strip()
        if text.lstrip("-").isdigit():
            return check_class_index(int(text))
        wanted = _normalize(text)
        names = [_normalize(n) for n in _load()]
        hits = [i for i, n in enumerate(names) if n == wanted]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ValueError(f"class name {name_or_index!r} is ambiguous: it is the name of classes "
                             f"{hits}; pass the index instead")
        close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown ImageNet class name {name_or_index!r}{hint}")
    return check_class_index(name_or_index)
