"""Stored reference values: computed once per version key, verified by SHA-256 before every use (grader side only).

Rule of this module: (weights folder, threads) => the :class:`autograder.references.References` of the hidden
checks, read from the store when its version key (:func:`version_key`) matches and its checksum holds, else built
on the real network and stored again -- never trusted blindly. :func:`references_for` says which happened
(``source``: ``"stored"``, or ``"built"`` with the reason: missing, stale, damaged). The README's *Reference
values* describes the key and the store for instructors.

The store (:func:`store_dir`) holds ``references.npz`` (arrays, plus the other values as JSON, read without pickle)
and ``manifest.json`` (the version key and the file's SHA-256). A student process never reaches it, except in the
audit-hook-only isolation mode, where the student's code runs as the grader's user and could rewrite it with
C-level I/O: a changed file fails the checksum and is rebuilt, but a student who rewrites both files consistently
is not detected (see the README's isolation table: that mode contains Python-level access only).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import threading
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

from . import references as refs_module
from .references import LoopCase, LossCase, PlainCase, UpdateCase
from .results import GRADER_VERSION, package_version
from .store import atomic_write

ROOT = Path(__file__).resolve().parent.parent
STORE_ENV = "CLASSVIZ_REFERENCES_DIR"
DATA, MANIFEST = "references.npz", "manifest.json"
_CODE = ("autograder/references.py", "autograder/numpy_squeezenet.py", "autograder/child/standin.py", "classviz",
         "classviz_reference")
_GROUPS = {"real_cases": LossCase, "raw_cases": LossCase, "l2_case_reg": LossCase, "update": UpdateCase,
           "plain": PlainCase, "loop": LoopCase, "update_loss_case": LossCase}
"""The stored attributes of a References: each a dataclass of this kind, or a list of them."""
_LOCK = threading.Lock()
_LOADED: dict = {}


def store_dir() -> Path:
    """The store folder: ``$CLASSVIZ_REFERENCES_DIR``, else ``datasets/grader-references`` in the course folder."""
    return Path(os.environ.get(STORE_ENV) or ROOT / "datasets" / "grader-references")


def _sha256_files(paths, base: Path) -> str:
    """One SHA-256 over the files' names (relative to ``base``) and contents."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.relative_to(base).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return hashlib.sha256(" ".join(sorted(line.split(":", 1)[-1].split())).encode()).hexdigest()[:16]


def version_key(weights, threads: int = 1) -> dict:
    """Everything the reference values depend on; never imports TensorFlow.

    The grader version, the SHA-256 of the code that computes them (:data:`_CODE`) and of the weight files, the
    TensorFlow, Keras, NumPy, SciPy and Python versions, the CPU (architecture and instruction-set flags:
    TensorFlow's kernels depend on them) and the number of TensorFlow threads (the order of its sums).
    """
    code = []
    for item in _CODE:
        path = ROOT / item
        code += sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts) if path.is_dir() else [path]
    weight_files = sorted(p for p in (Path(weights) / "weights").glob("*") if p.is_file())
    return {"grader_version": GRADER_VERSION,
            "code_sha256": _sha256_files(code, ROOT),
            "weights_sha256": _sha256_files(weight_files, Path(weights)) if weight_files else None,
            **{name: package_version(name) for name in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy")},
            "python": platform.python_version(), "machine": platform.machine(), "cpu_flags": _cpu_flags(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "threads": int(threads)}


def protect_store(folder: Path | None = None) -> None:
    """Close a store outside the course folder to student processes, like the course folder
    (:func:`autograder.isolation.close_to_students`; inside it, ``datasets/`` is closed already). Call it before a
    student process starts."""
    folder = Path(folder) if folder is not None else store_dir()
    if not Path(os.path.realpath(folder)).is_relative_to(os.path.realpath(ROOT)):
        from .isolation import close_to_students

        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        close_to_students([folder])


# ---- References <-> one .npz file (arrays as arrays, everything else as JSON; no pickle) ------------------------

def _state(obj, prefix: str, arrays: dict):
    if is_dataclass(obj):
        return {f.name: _state(getattr(obj, f.name), f"{prefix}.{f.name}", arrays) for f in fields(obj)}
    if isinstance(obj, list):
        return [_state(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        arrays[prefix] = obj
        return {"array": prefix}
    return obj


def _restore(state, arrays):
    if isinstance(state, list):
        return [_restore(v, arrays) for v in state]
    if isinstance(state, dict) and set(state) == {"array"}:
        return arrays[state["array"]]
    if isinstance(state, dict):
        return {k: _restore(v, arrays) for k, v in state.items()}
    return state


def save(refs, folder: Path, key: dict) -> None:
    """Write ``refs`` and its manifest into ``folder``, each file atomically (the data before the manifest)."""
    arrays = {}
    state = {group: _state(getattr(refs, group), group, arrays) for group in _GROUPS}
    state["seconds"] = refs.seconds
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{DATA}.tmp.{os.getpid()}.npz"
    np.savez(tmp, _meta=np.array(json.dumps(state)), **arrays)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, folder / DATA)
    atomic_write(folder / MANIFEST, json.dumps({"key": key, "sha256": digest}, indent=1, sort_keys=True) + "\n")


def load(folder: Path, key: dict):
    """``(References, None)`` from ``folder`` when its key is ``key`` and its checksum holds, else ``(None, why)``
    (``"missing"``, ``"stale (...)"``, ``"damaged (...)"``)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        data = (folder / DATA).read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as exc:
        return None, f"damaged (manifest: {type(exc).__name__})"
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        old = manifest.get("key") if isinstance(manifest, dict) and isinstance(manifest.get("key"), dict) else {}
        changed = sorted(k for k in set(key) | set(old) if key.get(k) != old.get(k))
        return None, f"stale (changed: {', '.join(changed) or 'manifest'})"
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        return None, "damaged (checksum mismatch)"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        state = _restore(json.loads(str(arrays.pop("_meta"))), arrays)
        refs = refs_module.References()
        for group, kind in _GROUPS.items():
            value = state[group]
            setattr(refs, group, [kind(**c) for c in value] if isinstance(value, list) else kind(**value))
        refs.l2_case, refs.compile_case, refs.seconds = refs.raw_cases[0], refs.real_cases[0], state["seconds"]
        refs.source = "stored"
    except (KeyError, TypeError, ValueError, OSError) as exc:  # a checksum-valid file this grader cannot read
        return None, f"damaged ({type(exc).__name__})"
    return refs, None


def references_for(weights, threads: int = 1, folder: Path | None = None):
    """The :class:`~autograder.references.References` for a weights folder: kept in this process after the first
    call, read from the store when valid, else built (~10 s: TensorFlow, the model, the reference values) and
    stored. ``refs.source`` says which (``"stored"``, ``"built (missing)"``, ``"built (stale (...))"``, ...)."""
    folder = Path(folder) if folder is not None else store_dir()
    cache = (os.path.realpath(weights), int(threads), os.path.realpath(folder))
    with _LOCK:
        if cache not in _LOADED:
            key = version_key(weights, threads)
            refs, why = load(folder, key)
            if refs is None:
                with _store_lock(folder):  # one builder at a time (batch workers): the others then read its values
                    refs, _ = load(folder, key)
                    if refs is None:
                        refs = _build_and_store(weights, threads, folder, key, why)
            refs.weights, refs.version_key = weights, key
            _LOADED[cache] = refs
        return _LOADED[cache]


@contextlib.contextmanager
def _store_lock(folder: Path):
    """An exclusive lock on ``folder/.lock`` (nothing when the store cannot be written: every process builds)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build_and_store(weights, threads: int, folder: Path, key: dict, why: str):
    model = refs_module.model_for(weights, threads)
    with refs_module.quiet_native_stderr():
        refs = refs_module.References.build(model, weights)
    refs.source = f"built ({why})"
    try:
        save(refs, folder, key)
    except OSError as exc:  # a read-only store: grade anyway, with values built here
        refs.source += f"; not stored ({type(exc).__name__})"
    return refs


def differences(a, b) -> list[str]:
    """Where two :class:`~autograder.references.References` differ (exact: arrays bit for bit, with dtype and
    shape); empty when identical."""
    out = []

    def walk(x, y, path):
        if is_dataclass(x):
            for f in fields(x):
                walk(getattr(x, f.name), getattr(y, f.name), f"{path}.{f.name}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{path}[{i}]")
        elif isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape:
                out.append(f"{path}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
            elif not np.array_equal(x, y, equal_nan=True):
                out.append(f"{path}: max difference {np.nanmax(np.abs(x.astype(float) - y.astype(float))):.3g}")
        elif not (x == y and type(x) is type(y)):
            out.append(f"{path}: {x!r} vs {y!r}")

    for group in _GROUPS:
        walk(getattr(a, group), getattr(b, group), group)
    return out


def main(args) -> int:
    """``python -m autograder references``: build the reference values on the real network, compare them with the
    stored ones, and store them when the store is missing, stale or damaged (or with ``--replace``). Exit status 1
    when valid stored values differ from the rebuilt ones (something they depend on is missing from the key)."""
    from classviz import weights as W

    from .isolation import Limits

    weights = Path(args.weights) if args.weights else W.fetch(("weights",), quiet=True)
    folder = Path(args.store) if args.store else store_dir()
    threads = Limits().threads
    key = version_key(weights, threads)
    stored, why = load(folder, key)
    model = refs_module.model_for(weights, threads)
    with refs_module.quiet_native_stderr():
        built = refs_module.References.build(model, weights)
    print(f"built on the real network in {built.seconds:.1f} s (version key: grader {key['grader_version']}, "
          f"TensorFlow {key['tensorflow'] or key['tensorflow-cpu']}, Keras {key['keras']}, NumPy {key['numpy']})")
    diff = differences(built, stored) if stored is not None else []
    if stored is None:
        print(f"stored values in {folder}: {why}")
    elif diff:
        print(f"stored values in {folder} DIFFER from the rebuilt ones in {len(diff)} place(s):")
        print("\n".join(f"  {d}" for d in diff[:20]))
    else:
        print(f"stored values in {folder}: identical to the rebuilt ones")
    if stored is None or (diff and args.replace):
        save(built, folder, key)
        print(f"stored the rebuilt values in {folder}")
    return 1 if diff and not args.replace else 0
