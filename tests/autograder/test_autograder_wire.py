"""The grader <-> student process wire format: round trips, deadlines, and garbage rejected."""

import os
import threading
import time

import numpy as np
import pytest

from autograder.child import wire


@pytest.fixture
def pipes():
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    grader = wire.DeadlineEnd(b_r, a_w)
    child = wire.BlockingEnd(a_r, b_w)
    yield grader, child, (a_r, a_w, b_r, b_w)
    for fd in (a_r, a_w, b_r, b_w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_round_trip_keeps_values_dtypes_and_shapes(pipes):
    grader, child, _ = pipes
    arrays = {"X": np.arange(24, dtype=np.float32).reshape(1, 2, 4, 3), "n": np.array(3, np.int64),
              "flag": np.array([True, False])}
    grader.send({"op": "loss", "target_y": 76}, arrays, time.monotonic() + 5)
    header, got = child.receive()
    assert header["op"] == "loss" and header["target_y"] == 76
    assert set(got) == set(arrays)
    for name, arr in arrays.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape
        np.testing.assert_array_equal(got[name], arr)
    big = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    sender = threading.Thread(target=child.send, args=({"ok": True}, {"X_new": big}))  # larger than a pipe
    sender.start()
    header, got = grader.receive(time.monotonic() + 5)
    sender.join()
    np.testing.assert_array_equal(got["X_new"], big)
    assert got["X_new"].flags.writeable


def test_deadline_and_closed_peer(pipes):
    grader, child, (a_r, a_w, b_r, b_w) = pipes
    start = time.monotonic()
    with pytest.raises(wire.WireTimeout):
        grader.receive(time.monotonic() + 0.3)
    assert time.monotonic() - start < 2
    os.close(b_w)
    with pytest.raises(wire.PeerClosed):
        grader.receive(time.monotonic() + 5)


@pytest.mark.parametrize("frame, words", [
    (b"XXXX\x00\x00\x00\x02{}", "bad frame start"),
    (wire.MAGIC + (10 ** 9).to_bytes(4, "big"), "too large"),
    (wire.MAGIC + (4).to_bytes(4, "big") + b"[1] ", "JSON object"),
    (wire.MAGIC + (5).to_bytes(4, "big") + b"\xff\xfe{}}", "not UTF-8 JSON"),
])
def test_garbage_frames_are_rejected(pipes, frame, words):
    grader, _, (a_r, a_w, b_r, b_w) = pipes
    os.write(b_w, frame)
    with pytest.raises(wire.WireError, match=words):
        grader.receive(time.monotonic() + 2)


@pytest.mark.parametrize("spec", [
    {"name": "x", "dtype": "object", "shape": [1]},
    {"name": "x", "dtype": "float32", "shape": [-1]},
    {"name": "x", "dtype": "float32", "shape": [2 ** 40]},
    {"name": "x", "dtype": "float32", "shape": "big"},
])
def test_bad_array_specs_are_rejected(pipes, spec):
    import json

    grader, _, (a_r, a_w, b_r, b_w) = pipes
    head = json.dumps({"arrays": [spec]}).encode()
    os.write(b_w, wire.MAGIC + len(head).to_bytes(4, "big") + head)
    with pytest.raises(wire.WireError):
        grader.receive(time.monotonic() + 2)


def test_encode_refuses_object_arrays():
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.encode({}, {"x": np.array([object()])})
