"""Frames of JSON plus raw NumPy arrays between the grader and a student process (never pickle).

Rule of this module: a frame is ``MAGIC`` + 4-byte big-endian header length + a UTF-8 JSON object (the header)
+ the payload, the concatenated C-order bytes of the arrays listed in ``header["arrays"]`` as
``{"name", "dtype", "shape"}``. The reader checks every size and dtype before trusting it, so a student process
that writes garbage on the pipe produces a :class:`WireError`, never code execution in the grader.

With a key (the grader draws 32 random bytes per student process and hands them over on the process's stdin,
before any student code runs), every frame ends with ``HMAC-SHA256(key, direction + sequence number + header
+ payload)``: a frame written on the pipe by the student's code (it can find the pipe's file descriptor by
trying numbers) cannot carry a valid tag, and a frame replayed or dropped breaks the sequence, so the grader
reports the process as tampering instead of trusting what it read (:class:`Tampered`).

The student process's end (:class:`BlockingEnd`) is built from primitives bound when it is created (C functions
of ``os``, ``_json``, ``_hashlib`` and NumPy, and a private copy of the builtins), so the student's code
cannot change how it reads, verifies, encodes or signs frames by replacing functions in shared modules
(``json.dumps``, ``os.write``, ``builtins.len``, ...).
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: functions defined below keep the original builtins

import _hashlib  # noqa: E402
import _json  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import time  # noqa: E402

MAGIC = b"CVG1"
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 1 << 28
ALLOWED_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
MAC_BYTES = 32
TO_CHILD, TO_GRADER = b"G", b"C"


class WireError(Exception):
    """A malformed, oversized or unexpected frame."""


class PeerClosed(WireError):
    """The other end closed the pipe (the process ended)."""


class WireTimeout(WireError):
    """No complete frame within the time limit."""


class Tampered(WireError):
    """A frame whose authentication tag or sequence number is wrong: written by someone else than the peer."""


def mac(key: bytes, direction: bytes, seq: int, header: bytes, payload: bytes) -> bytes:
    """The frame's tag: HMAC-SHA256 over direction, 8-byte sequence number, header bytes and payload."""
    return _hashlib.hmac_digest(key, direction + seq.to_bytes(8, "big") + header + payload, "sha256")


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """Encode a frame (without its tag).

    Args:
        header: a JSON-serializable dict (its ``"arrays"`` key is set here).
        arrays: ``{name: np.ndarray}``; each is sent C-contiguous with its dtype (one of ``ALLOWED_DTYPES``).

    Returns:
        The frame's bytes.

    Raises:
        WireError: a dtype outside ``ALLOWED_DTYPES`` or a frame above the size limits.
    """
    head, payload = _encode_parts(header, arrays)
    return MAGIC + len(head).to_bytes(4, "big") + head + payload


def _encode_parts(header, arrays):
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
    return head, payload


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


class DeadlineEnd:
    """The grader's end: every read and write has a deadline (``time.monotonic()`` seconds).

    Args:
        read_fd, write_fd: the pipes.
        key: the per-process key; with it, every frame sent is tagged and every frame received must carry a
            valid tag and the next sequence number (else :class:`Tampered`).
    """

    def __init__(self, read_fd: int, write_fd: int, key: bytes | None = None):
        self.read_fd, self.write_fd, self.key = read_fd, write_fd, key
        self.sent = self.received = 0
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
            Tampered: the frame's tag or sequence number is wrong (keyed ends only).
            WireError: the frame is malformed.
        """
        try:
            n = _header_length(self._read_exactly(8, deadline))
            raw = self._read_exactly(n, deadline)
            header = _parse_header(raw)
            payload = self._read_exactly(_payload_length(header), deadline)
        except (WireTimeout, PeerClosed):
            raise
        except WireError as exc:
            if self.key is not None:  # a keyed child never writes a malformed frame: someone else did
                raise Tampered(f"malformed frame ({exc})") from None
            raise
        if self.key is not None:
            tag = self._read_exactly(MAC_BYTES, deadline)
            if not _hashlib.compare_digest(tag, mac(self.key, TO_GRADER, self.received, raw, payload)):
                raise Tampered("a frame without the process's authentication tag (written by the student's code?)")
            self.received += 1
        arrays = _decode_arrays(header, payload)
        return header, arrays

    def send(self, header: dict, arrays: dict | None, deadline: float) -> None:
        """Send one frame, failing with :class:`WireTimeout` if the process does not read it in time."""
        head, payload = _encode_parts(header, arrays)
        frame = MAGIC + len(head).to_bytes(4, "big") + head + payload
        if self.key is not None:
            frame += mac(self.key, TO_CHILD, self.sent, head, payload)
            self.sent += 1
        data = memoryview(frame)
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


class _ScanContext:
    """The attributes ``_json.make_scanner`` copies when it is created (none of them is looked up later)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _refuse_default(obj):
    raise TypeError(f"cannot encode a {type(obj).__name__}")


class BlockingEnd:
    """One process's end of a pair of pipes, with blocking reads (the student process's side).

    Everything it uses is bound when it is created (see the module docstring), so create it before any student
    code runs.

    Args:
        read_fd, write_fd: the pipes.
        key: the per-process key (tags every frame sent, checks every frame received), or None.
    """

    def __init__(self, read_fd: int, write_fd: int, key: bytes | None = None):
        import numpy as np

        self.read_fd, self.write_fd = read_fd, write_fd
        receive, send = _make_blocking_end(read_fd, write_fd, key, np)
        self.receive, self.send = receive, send


def _make_blocking_end(read_fd, write_fd, key, np):
    """Closures ``receive()`` and ``send(header, arrays)`` over primitives bound now (no global lookup later)."""
    read, write, hmac_digest, compare = os.read, os.write, _hashlib.hmac_digest, _hashlib.compare_digest
    scan = _json.make_scanner(_ScanContext())
    encoder = _json.make_encoder(None, _refuse_default, _json.encode_basestring_ascii, None, ":", ",",
                                 False, False, True)
    frombuffer, ndarray = np.frombuffer, np.ndarray
    ndarray_copy, ndarray_reshape, ndarray_tobytes = ndarray.copy, ndarray.reshape, ndarray.tobytes
    dtypes = {name: np.dtype(name) for name in ALLOWED_DTYPES}
    names = {np.dtype(name).str: name for name in ALLOWED_DTYPES}
    names.update({np.dtype(name).newbyteorder("=").str: name for name in ALLOWED_DTYPES})
    itemsize = {name: np.dtype(name).itemsize for name in ALLOWED_DTYPES}
    magic, max_head, max_payload, mac_bytes = MAGIC, MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES, MAC_BYTES
    to_child, to_grader = TO_CHILD, TO_GRADER
    from_bytes, join, utf8 = int.from_bytes, b"".join, "utf-8"
    _len, _type, _int, _bool, _str, _list, _dict, _tuple = len, type, int, bool, str, list, dict, tuple
    _memoryview, _min = memoryview, min
    _WireError, _PeerClosed, _Tampered = WireError, PeerClosed, Tampered
    counters = [0, 0]  # frames received, frames sent

    def read_exactly(n):
        chunks, got = [], 0
        while got < n:
            chunk = read(read_fd, _min(n - got, 1 << 20))
            if not chunk:
                raise _PeerClosed("the grader closed the pipe")
            chunks.append(chunk)
            got += _len(chunk)
        return join(chunks)

    def receive():
        prefix = read_exactly(8)
        if prefix[:4] != magic:
            raise _WireError("bad frame start")
        n = from_bytes(prefix[4:8], "big")
        if n > max_head:
            raise _WireError("header too large")
        raw = read_exactly(n)
        try:
            header, end = scan(raw.decode(utf8), 0)
        except BaseException:  # noqa: BLE001 - StopIteration, ValueError
            raise _WireError("header is not JSON") from None
        if _type(header) is not _dict:
            raise _WireError("header must be a JSON object")
        specs = header.get("arrays")
        if specs is None:
            specs = []
        if _type(specs) is not _list:
            raise _WireError("bad array specs")
        plan, total = [], 0
        for spec in specs:
            if _type(spec) is not _dict:
                raise _WireError("bad array spec")
            name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
            if _type(name) is not _str or dtype not in dtypes or _type(shape) is not _list or _len(shape) > 8:
                raise _WireError("bad array spec")
            count = 1
            for d in shape:
                if _type(d) is not _int or d < 0 or d >= 2 ** 31:
                    raise _WireError("bad array shape")
                count *= d
            plan.append((name, dtype, _tuple(shape), count))
            total += count * itemsize[dtype]
            if total > max_payload:
                raise _WireError("payload too large")
        payload = read_exactly(total)
        if key is not None:
            tag = read_exactly(mac_bytes)
            expected = hmac_digest(key, to_child + counters[0].to_bytes(8, "big") + raw + payload, "sha256")
            if not compare(tag, expected):
                raise _Tampered("a request without the grader's authentication tag")
        counters[0] += 1
        arrays, offset = {}, 0
        for name, dtype, shape, count in plan:
            flat = frombuffer(payload, dtype=dtypes[dtype], count=count, offset=offset)
            arrays[name] = ndarray_copy(ndarray_reshape(flat, shape))
            offset += count * itemsize[dtype]
        return header, arrays

    def send(header, arrays=None):
        specs, chunks = [], []
        for name, arr in (arrays or {}).items():
            if _type(arr) is not ndarray:
                raise _WireError("only NumPy arrays are sent")
            dname = names.get(arr.dtype.str)
            if dname is None:
                raise _WireError("array of a dtype that is not sent")
            arr = ndarray_copy(arr, order="C")
            specs.append({"name": name, "dtype": dname, "shape": _list(arr.shape)})
            chunks.append(ndarray_tobytes(arr))
        header = _dict(header)
        header["arrays"] = specs
        head = "".join(encoder(header, 0)).encode(utf8)
        payload = join(chunks)
        if _len(head) > max_head or _len(payload) > max_payload:
            raise _WireError("frame too large")
        frame = magic + _len(head).to_bytes(4, "big") + head + payload
        if key is not None:
            frame += hmac_digest(key, to_grader + counters[1].to_bytes(8, "big") + head + payload, "sha256")
        counters[1] += 1
        data = _memoryview(frame)
        while data:
            written = write(write_fd, data)
            data = data[written:]

    return receive, send
