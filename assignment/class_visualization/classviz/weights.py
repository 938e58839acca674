"""Checksum-verified download of the pretrained SqueezeNet 1.1 tensors (and its reference test data).

Rule of this module: a file is only ever trusted after its SHA-256 matched the manifest
``squeezenet1_1.sha256`` beside this file. Files are written to a temporary name in the destination
folder and renamed into place only once verified, so an interrupted or corrupted download never
leaves a file that a later run would trust; a re-run downloads only what is missing or wrong.

Sources, in order:

1. a local mirror folder with the upstream layout (``weights/<name>.npy``,
   ``test_data_set/<k>/{input,output}_0.npy``), given as ``mirror=`` or by the environment variable
   ``CLASSVIZ_WEIGHTS_MIRROR`` — used *instead of* the network (offline machines, CI);
2. the upstream copies of the ONNX Model Zoo ``squeezenet1.1-7`` tensors in the webnn-polyfill test
   data (``UPSTREAM_BASE_URLS``; the first one is pinned to a commit).

Destination: ``dest=``, else ``CLASSVIZ_WEIGHTS_DIR``, else ``datasets/squeezenet1.1_nchw`` in the
folder that holds the ``classviz`` package (the repository root, or a student's release folder).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

MANIFEST_PATH = Path(__file__).with_name("squeezenet1_1.sha256")
MIRROR_ENV = "CLASSVIZ_WEIGHTS_MIRROR"
DEST_ENV = "CLASSVIZ_WEIGHTS_DIR"
UPSTREAM_BASE_URLS = (
    "https://raw.githubusercontent.com/webmachinelearning/webnn-polyfill/"
    "0f40904dec1a0d3859db16624f32a38b2b429d32/test-data/models/squeezenet1.1_nchw/",
    "https://webmachinelearning.github.io/webnn-polyfill/test-data/models/squeezenet1.1_nchw/",
)
GROUPS = ("weights", "test_data_set")
_CHUNK = 1 << 16


class WeightsError(RuntimeError):
    """A weights file could not be fetched or verified; the message says how to fix it."""


def read_manifest(groups=GROUPS) -> dict[str, str]:
    """Return ``{relative path: sha256 hex}`` for the files of the given groups.

    Args:
        groups: any of ``"weights"`` (52 tensors, needed to run) and ``"test_data_set"`` (reference
            inputs/outputs, needed by the tests).

    Raises:
        ValueError: an unknown group name.
    """
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown file group(s) {sorted(unknown)}; choose from {list(GROUPS)}")
    entries = {}
    for line in MANIFEST_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, rel = line.split(maxsplit=1)
        if rel.split("/", 1)[0] in groups:
            entries[rel] = digest
    return entries


def default_dest() -> Path:
    """Where weights live unless told otherwise: ``$CLASSVIZ_WEIGHTS_DIR`` or ``<root>/datasets/squeezenet1.1_nchw``."""
    env = os.environ.get(DEST_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "datasets" / "squeezenet1.1_nchw"


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def find_problems(folder, groups=("weights",)) -> list[str]:
    """List what is wrong with the files of ``groups`` in ``folder`` (empty list: all present and verified)."""
    folder = Path(folder)
    problems = []
    for rel, digest in read_manifest(groups).items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif sha256_file(path) != digest:
            problems.append(f"wrong SHA-256 (corrupted or truncated): {path}")
    return problems


def _copy_from_mirror(mirror: Path, rel: str, tmp: Path) -> None:
    src = mirror / rel
    if not src.is_file():
        raise WeightsError(
            f"the mirror folder {mirror} has no file {rel}. {MIRROR_ENV} must name a folder with the upstream "
            f"layout (weights/*.npy, test_data_set/*/*.npy), such as a copy of a complete squeezenet1.1_nchw "
            f"folder; fix the folder or unset {MIRROR_ENV} to download from the network")
    shutil.copyfile(src, tmp)


def _download(rel: str, tmp: Path, timeout: float) -> None:
    errors = []
    for base in UPSTREAM_BASE_URLS:
        url = base + rel
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out, _CHUNK)
            return
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise WeightsError(
        "could not download the SqueezeNet 1.1 weights (offline or blocked?):\n  " + "\n  ".join(errors)
        + f"\nOn a machine without internet, copy a complete squeezenet1.1_nchw folder (from your instructor or "
          f"a classmate; it holds weights/*.npy), set {MIRROR_ENV} to its path and run again.")


def fetch(groups=("weights",), dest=None, mirror=None, timeout: float = 20.0, quiet: bool = False) -> Path:
    """Make sure every file of ``groups`` is in ``dest`` and matches its SHA-256; fetch what is not.

    Args:
        groups: file groups to fetch (see :func:`read_manifest`).
        dest: destination folder (default :func:`default_dest`); created if missing.
        mirror: local folder to copy from instead of the network (default ``$CLASSVIZ_WEIGHTS_MIRROR``).
        timeout: seconds allowed per network connection/read; no download waits longer.
        quiet: if True print nothing; otherwise, when something is fetched, one line on stdout (not stderr,
            which Jupyter shows in red) saying what is fetched, from where, and that it was verified.

    Returns:
        The destination folder.

    Raises:
        WeightsError: a mirror folder that does not exist or lacks a file, the network unreachable, or a
            file whose SHA-256 does not match (the bad copy is deleted, never kept). The message names the fix.
    """
    dest = Path(dest) if dest is not None else default_dest()
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if mirror is not None:
        mirror = Path(mirror).expanduser()
        if not mirror.is_dir():
            raise WeightsError(f"the weights mirror folder {mirror} does not exist ({MIRROR_ENV}={mirror}); "
                               f"point {MIRROR_ENV} at a folder with the upstream layout or unset it")
    todo = {rel: digest for rel, digest in read_manifest(groups).items()
            if not ((dest / rel).is_file() and sha256_file(dest / rel) == digest)}
    if todo and not quiet:
        print(f"Fetching {len(todo)} SqueezeNet 1.1 files ({', '.join(groups)}) from "
              f"{'the local copy' if mirror is not None else 'the network'}...", end="", flush=True)
    for rel, digest in todo.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if mirror is not None:
                _copy_from_mirror(mirror, rel, tmp)
            else:
                _download(rel, tmp, timeout)
            actual = sha256_file(tmp)
            if actual != digest:
                raise WeightsError(
                    f"{rel} from {mirror or 'the network'} has SHA-256 {actual}, expected {digest} "
                    f"(corrupted, truncated or a different file); it was not kept. Replace the source file "
                    f"or delete {target.parent} and fetch again")
            os.replace(tmp, target)
        except BaseException:
            if not quiet:
                print(" failed.", flush=True)  # ends the line; the error says why
            raise
        finally:
            tmp.unlink(missing_ok=True)
    if todo and not quiet:
        print(" done, each checked by SHA-256.", flush=True)
    return dest
