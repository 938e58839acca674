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

Both ends encode and decode with the same functions (:func:`_codec`), built from primitives bound when an end is
created (C functions of ``os``, ``_json``, ``_hashlib`` and NumPy, and a private copy of the builtins), so the
student's code cannot change how the student process's end (:class:`BlockingEnd`) reads, verifies, encodes or
signs frames by replacing functions in shared modules (``json.dumps``, ``os.write``, ``builtins.len``, ...). The
grader's end (:class:`DeadlineEnd`) only adds deadlines.
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: functions defined below keep the original builtins

import _hashlib  # noqa: E402
import _json  # noqa: E402
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


def _codec(key, incoming: bytes, outgoing: bytes, forged: str):
    """``receive(read_exactly) -> (header, arrays)`` and ``frame(header, arrays) -> bytes``, closures over
    primitives bound now (no global lookup later).

    Args:
        key: the per-process key (tags every frame made, checks every frame received), or None.
        incoming, outgoing: the direction bytes of the frames received and made (``TO_CHILD``, ``TO_GRADER``).
        forged: the message of :class:`Tampered` for a received frame without a valid tag.
    """
    import numpy as np

    hmac_digest, compare = _hashlib.hmac_digest, _hashlib.compare_digest
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
    from_bytes, join, utf8 = int.from_bytes, b"".join, "utf-8"
    _len, _type, _int, _str, _list, _dict, _tuple, _repr = len, type, int, str, list, dict, tuple, repr
    _WireError, _Tampered = WireError, Tampered
    counters = [0, 0]  # frames received, frames made

    def receive(read_exactly):
        prefix = read_exactly(8)
        if prefix[:4] != magic:
            raise _WireError(f"bad frame start {_repr(prefix[:4])}")
        n = from_bytes(prefix[4:8], "big")
        if n > max_head:
            raise _WireError(f"header of {n} bytes is too large")
        raw = read_exactly(n)
        try:
            header, end = scan(raw.decode(utf8), 0)
        except BaseException:  # noqa: BLE001 - UnicodeDecodeError, StopIteration, ValueError
            raise _WireError("header is not UTF-8 JSON") from None
        if _type(header) is not _dict:
            raise _WireError("header must be a JSON object")
        specs = header.get("arrays")
        if specs is None:
            specs = []
        if _type(specs) is not _list:
            raise _WireError("header['arrays'] must be a list")
        plan, total = [], 0
        for spec in specs:
            if _type(spec) is not _dict:
                raise _WireError("array spec must be an object")
            name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
            if _type(name) is not _str or dtype not in dtypes or _type(shape) is not _list or _len(shape) > 8:
                raise _WireError(f"bad array spec {_repr(spec)[:200]}")
            count = 1
            for d in shape:
                if _type(d) is not _int or d < 0 or d >= 2 ** 31:
                    raise _WireError(f"bad array shape {_repr(shape)[:200]}")
                count *= d
            plan.append((name, dtype, _tuple(shape), count))
            total += count * itemsize[dtype]
            if total > max_payload:
                raise _WireError("payload too large")
        payload = read_exactly(total)
        if key is not None:
            tag = read_exactly(mac_bytes)
            if not compare(tag, hmac_digest(key, incoming + counters[0].to_bytes(8, "big") + raw + payload, "sha256")):
                raise _Tampered(forged)
        counters[0] += 1
        arrays, offset = {}, 0
        for name, dtype, shape, count in plan:
            flat = frombuffer(payload, dtype=dtypes[dtype], count=count, offset=offset)
            arrays[name] = ndarray_copy(ndarray_reshape(flat, shape))
            offset += count * itemsize[dtype]
        return header, arrays

    def frame(header, arrays=None):
        specs, chunks = [], []
        for name, arr in (arrays or {}).items():
            if _type(arr) is not ndarray:
                raise _WireError(f"array {_repr(name)} is not a NumPy array")
            dname = names.get(arr.dtype.str)
            if dname is None:
                raise _WireError(f"array {_repr(name)} has dtype {arr.dtype}, not one of {ALLOWED_DTYPES}")
            specs.append({"name": name, "dtype": dname, "shape": _list(arr.shape)})
            chunks.append(ndarray_tobytes(arr))  # C order whatever the array's layout
        header = _dict(header)
        header["arrays"] = specs
        head = "".join(encoder(header, 0)).encode(utf8)
        payload = join(chunks)
        if _len(head) > max_head or _len(payload) > max_payload:
            raise _WireError("frame too large")
        data = magic + _len(head).to_bytes(4, "big") + head + payload
        if key is not None:
            data += hmac_digest(key, outgoing + counters[1].to_bytes(8, "big") + head + payload, "sha256")
        counters[1] += 1
        return data

    return receive, frame


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """An untagged frame (tests and tools; see the module docstring for the format).

    Args:
        header: a JSON-serializable dict (its ``"arrays"`` key is set here).
        arrays: ``{name: np.ndarray}``, each of a dtype of ``ALLOWED_DTYPES`` in the machine's byte order.

    Raises:
        WireError: another object or dtype, or a frame above the size limits.
    """
    return _codec(None, TO_GRADER, TO_CHILD, "")[1](header, arrays)


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
        self._receive, self._frame = _codec(key, TO_GRADER, TO_CHILD, "a frame without the process's "
                                            "authentication tag (written by the student's code?)")
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
            return self._receive(lambda n: self._read_exactly(n, deadline))
        except (WireTimeout, PeerClosed, Tampered):
            raise
        except WireError as exc:
            if self.key is not None:  # a keyed child never writes a malformed frame: someone else did
                raise Tampered(f"malformed frame ({exc})") from None
            raise

    def send(self, header: dict, arrays: dict | None, deadline: float) -> None:
        """Send one frame, failing with :class:`WireTimeout` if the process does not read it in time."""
        import numpy as np

        data = memoryview(self._frame(header, {k: np.asarray(v) for k, v in (arrays or {}).items()}))
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


class BlockingEnd:
    """One process's end of a pair of pipes, with blocking reads (the student process's side).

    Everything it uses is bound when it is created (see the module docstring), so create it before any student
    code runs.

    Args:
        read_fd, write_fd: the pipes.
        key: the per-process key (tags every frame sent, checks every frame received), or None.
    """

    def __init__(self, read_fd: int, write_fd: int, key: bytes | None = None):
        self.read_fd, self.write_fd = read_fd, write_fd
        receive, frame = _codec(key, TO_CHILD, TO_GRADER, "a request without the grader's authentication tag")
        read, write, join, _len, _min, _memoryview = os.read, os.write, b"".join, len, min, memoryview
        _PeerClosed = PeerClosed

        def read_exactly(n):
            chunks, got = [], 0
            while got < n:
                chunk = read(read_fd, _min(n - got, 1 << 20))
                if not chunk:
                    raise _PeerClosed("the grader closed the pipe")
                chunks.append(chunk)
                got += _len(chunk)
            return join(chunks)

        def send(header, arrays=None):
            data = _memoryview(frame(header, arrays))
            while data:
                data = data[write(write_fd, data):]

        self.receive, self.send = lambda: receive(read_exactly), send
