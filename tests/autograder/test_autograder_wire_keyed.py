"""The wire with the per-process key (D4): tagged frames pass, a frame written by someone without the key, a
replayed frame or a damaged one is reported as tampering; the child's end ignores later changes to shared
modules (json, os, builtins) because it bound what it uses when it was created."""

import builtins
import json
import os
import threading
import time

import numpy as np
import pytest

from autograder.child import wire

KEY = bytes(range(32))


@pytest.fixture
def ends():
    a_r, a_w = os.pipe()  # grader -> child
    b_r, b_w = os.pipe()  # child -> grader
    grader = wire.DeadlineEnd(b_r, a_w, KEY)
    child = wire.BlockingEnd(a_r, b_w, KEY)
    yield grader, child, b_w
    for fd in (a_r, a_w, b_r, b_w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_tagged_frames_round_trip(ends):
    grader, child, _ = ends
    grader.send({"op": "loss", "target_y": 76}, {"X": np.ones((2, 3), np.float32)}, time.monotonic() + 5)
    header, arrays = child.receive()
    assert header["op"] == "loss" and arrays["X"].shape == (2, 3)
    child.send({"ok": True, "loss": {"type": "tf.Tensor"}}, {"loss": np.array(1.5, np.float32)})
    header, arrays = grader.receive(time.monotonic() + 5)
    assert header["ok"] and float(arrays["loss"]) == 1.5
    child.send({"ok": True}, {})
    assert grader.receive(time.monotonic() + 5)[0]["ok"]


def test_a_frame_without_the_key_is_tampering(ends):
    grader, child, reply_fd = ends
    os.write(reply_fd, wire.encode({"ok": True, "op": "loss"}))  # what student code could write on the fd
    child.send({"ok": True}, {})
    with pytest.raises(wire.Tampered):
        grader.receive(time.monotonic() + 5)


@pytest.mark.parametrize("garbage", [b"CVG1\x00\x00\x00\x10{\"ok\": true}    ", b"XXXX\x00\x00\x00\x02{}"])
def test_garbage_on_a_keyed_pipe_is_tampering(ends, garbage):
    grader, child, reply_fd = ends
    os.write(reply_fd, garbage)
    child.send({"ok": True}, {})  # the harness's own answer follows the student's bytes
    with pytest.raises(wire.Tampered):
        grader.receive(time.monotonic() + 5)


def test_a_replayed_frame_is_tampering(ends):
    grader, child, reply_fd = ends
    captured = []
    real_write = os.write

    def spy(fd, data):
        captured.append(bytes(data))
        return real_write(fd, data)

    os.write = spy
    try:
        child2 = wire.BlockingEnd(child.read_fd, reply_fd, KEY)  # binds the spy as its write
    finally:
        os.write = real_write
    child2.send({"ok": True, "n": 1}, {})
    assert grader.receive(time.monotonic() + 5)[0]["n"] == 1
    real_write(reply_fd, b"".join(captured))  # the same tagged frame again: its sequence number is stale
    with pytest.raises(wire.Tampered):
        grader.receive(time.monotonic() + 5)


def test_the_child_end_ignores_later_changes_to_shared_modules(ends, monkeypatch):
    grader, child, _ = ends
    monkeypatch.setattr(json, "dumps", lambda *a, **k: '{"ok": true, "forged": 1}')
    monkeypatch.setattr(os, "write", lambda fd, data: len(data))  # would swallow every frame
    monkeypatch.setattr(builtins, "len", lambda x: 0)
    child.send({"ok": False, "honest": 1}, {"X": np.zeros(3, np.float32)})
    monkeypatch.undo()
    header, arrays = grader.receive(time.monotonic() + 5)
    assert header == {"ok": False, "honest": 1, "arrays": header["arrays"]} and arrays["X"].shape == (3,)


def test_the_child_refuses_a_request_without_the_grader_tag():
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    try:
        child = wire.BlockingEnd(a_r, b_w, KEY)
        os.write(a_w, wire.encode({"op": "loss"}) + b"\x00" * wire.MAC_BYTES)
        with pytest.raises(wire.Tampered):
            child.receive()
        unkeyed = wire.DeadlineEnd(b_r, a_w)  # without a key, the old format still works (tests, tools)
        sender = threading.Thread(target=unkeyed.send, args=({"op": "x"}, None, time.monotonic() + 5))
        sender.start()
        sender.join()
    finally:
        for fd in (a_r, a_w, b_r, b_w):
            os.close(fd)
