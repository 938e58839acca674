"""Frames of JSON plus raw NumPy arrays between the grader and a student process (never pickle).

Rule of this module: a frame is ``MAGIC`` + 4-byte big-endian header length + a UTF-8 JSON object (the header)
+ the payload, the concatenated C-order bytes of the arrays listed in ``header["arrays"]`` as
``{"name", "dtype", "shape"}``. The reader checks every size and dtype before trusting it, so a student process
that writes garbage on the pipe produces a :class:`WireError`, never code execution in the grader.
"""

from __future__ import annotations

import json
import os
import select
import time

MAGIC = b"CVG1"
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 1 << 28
ALLOWED_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


class WireError(Exception):
    """A malformed, oversized or unexpected frame."""


class PeerClosed(WireError):
    """The other end closed the pipe (the process ended)."""


class WireTimeout(WireError):
    """No complete frame within the time limit."""


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """Encode a frame.

    Args:
        header: a JSON-serializable dict (its ``"arrays"`` key is set here).
        arrays: ``{name: np.ndarray}``; each is sent C-contiguous with its dtype (one of ``ALLOWED_DTYPES``).

    Returns:
        The frame's bytes.

    Raises:
        WireError: a dtype outside ``ALLOWED_DTYPES`` or a frame above the size limits.
    """
    import numpy as np

    specs, chunks = [], []
    for name, arr in (arrays or {}).items():
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
            arr = arr.copy(order="C")
        if arr.dtype.name not in ALLOWED_DTYPES:
            raise WireError(f"array {name!r} has dtype {arr.dtype.name}, not one of {ALLOWED_DTYPES}")
        specs.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape)})
        chunks.append(arr.tobytes())
    header = dict(header, arrays=specs)
    head = json.dumps(header, allow_nan=True).encode("utf-8")
    payload = b"".join(chunks)
    if len(head) > MAX_HEADER_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("frame too large")
    return MAGIC + len(head).to_bytes(4, "big") + head + payload


def _decode_arrays(header, payload):
    import numpy as np

    specs = header.get("arrays")
    if not isinstance(specs, list):
        raise WireError("header['arrays'] must be a list")
    arrays, offset = {}, 0
    for spec in specs:
        if not isinstance(spec, dict):
            raise WireError("array spec must be an object")
        name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
        if not isinstance(name, str) or dtype not in ALLOWED_DTYPES or not isinstance(shape, list) \
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2 ** 31 for d in shape) \
                or len(shape) > 8:
            raise WireError(f"bad array spec {str(spec)[:200]}")
        count = 1
        for d in shape:
            count *= d
        nbytes = count * np.dtype(dtype).itemsize
        if offset + nbytes > len(payload):
            raise WireError("payload shorter than its array specs")
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
        offset += nbytes
    if offset != len(payload):
        raise WireError("payload longer than its array specs")
    return arrays


def _header_length(prefix: bytes) -> int:
    if prefix[:4] != MAGIC:
        raise WireError(f"bad frame start {prefix[:4]!r}")
    n = int.from_bytes(prefix[4:8], "big")
    if n > MAX_HEADER_BYTES:
        raise WireError(f"header of {n} bytes is too large")
    return n


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header must be a JSON object")
    return header


def _payload_length(header: dict) -> int:
    import numpy as np

    total = 0
    for spec in header.get("arrays") or []:
        if not isinstance(spec, dict) or spec.get("dtype") not in ALLOWED_DTYPES \
                or not isinstance(spec.get("shape"), list):
            raise WireError(f"bad array spec {str(spec)[:200]}")
        count = 1
        for d in spec["shape"]:
            if not isinstance(d, int) or isinstance(d, bool) or d < 0 or d >= 2 ** 31:
                raise WireError(f"bad array shape {spec['shape']!r}")
            count *= d
        total += count * np.dtype(spec["dtype"]).itemsize
        if total > MAX_PAYLOAD_BYTES:
            raise WireError("payload too large")
    return total


def _wait(fd: int, event: int, timeout: float) -> bool:
    """Wait at most ``min(timeout, 1)`` seconds for ``fd`` to be ready (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    poller.register(fd, event | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(min(timeout, 1.0) * 1000))))


class BlockingEnd:
    """One process's end of a pair of pipes, with blocking reads (the student process's side)."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd

    def _read_exactly(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(self.read_fd, min(n - got, 1 << 20))
            if not chunk:
                raise PeerClosed("the grader closed the pipe")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def receive(self):
        """Block until a frame arrives; return ``(header, arrays)``."""
        n = _header_length(self._read_exactly(8))
        header = _parse_header(self._read_exactly(n))
        arrays = _decode_arrays(header, self._read_exactly(_payload_length(header)))
        return header, arrays

    def send(self, header: dict, arrays: dict | None = None) -> None:
        """Send one frame (blocking)."""
        data = memoryview(encode(header, arrays))
        while data:
            written = os.write(self.write_fd, data)
            data = data[written:]


class DeadlineEnd:
    """The grader's end: every read and write has a deadline (``time.monotonic()`` seconds)."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireTimeout("time limit reached while waiting for the student process")
            if not _wait(self.read_fd, select.POLLIN, remaining):
                continue
            try:
                chunk = os.read(self.read_fd, min(n - got, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise PeerClosed("the student process closed its pipe (it ended)")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def receive(self, deadline: float):
        """Wait for one frame until ``deadline``; return ``(header, arrays)``.

        Raises:
            WireTimeout: the deadline passed.
            PeerClosed: the process closed the pipe.
            WireError: the frame is malformed.
        """
        n = _header_length(self._read_exactly(8, deadline))
        header = _parse_header(self._read_exactly(n, deadline))
        arrays = _decode_arrays(header, self._read_exactly(_payload_length(header), deadline))
        return header, arrays

    def send(self, header: dict, arrays: dict | None, deadline: float) -> None:
        """Send one frame, failing with :class:`WireTimeout` if the process does not read it in time."""
        data = memoryview(encode(header, arrays))
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireTimeout("time limit reached while sending to the student process")
            if not _wait(self.write_fd, select.POLLOUT, remaining):
                continue
            try:
                written = os.write(self.write_fd, data)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise PeerClosed("the student process closed its pipe (it ended)") from None
            data = data[written:]
