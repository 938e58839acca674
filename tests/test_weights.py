"""The checksum-verified fetch, on a small fake manifest (fast) and on the real mirror layout."""

import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from classviz import weights
from classviz.squeezenet import load_weight_arrays


@pytest.fixture
def fake_upstream(tmp_path, monkeypatch):
    """A mirror with two small files and a manifest that lists their real SHA-256."""
    mirror = tmp_path / "mirror"
    files = {"weights/a.npy": b"alpha" * 100, "weights/b.npy": b"beta" * 100, "test_data_set/0/c.npy": b"c"}
    lines = []
    for rel, data in files.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
    manifest = tmp_path / "manifest.sha256"
    manifest.write_text("# test\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(weights, "MANIFEST_PATH", manifest)
    monkeypatch.delenv(weights.MIRROR_ENV, raising=False)
    return mirror


def test_manifest_lists_52_tensors_and_6_test_files():
    w = weights.read_manifest(("weights",))
    assert len(w) == 52 and all(len(d) == 64 for d in w.values())
    assert w["weights/squeezenet0_conv0_weight.npy"].startswith("7b683645")
    assert len(weights.read_manifest(("test_data_set",))) == 6
    with pytest.raises(ValueError, match="unknown file group"):
        weights.read_manifest(("models",))


def test_fetch_from_mirror_then_nothing_more(fake_upstream, tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert (dest / "weights/a.npy").read_bytes() == b"alpha" * 100
    assert not (dest / "test_data_set").exists()
    copies = []
    monkeypatch.setattr(weights, "_copy_from_mirror", lambda *a: copies.append(a))
    weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert copies == []  # re-running downloads nothing
    assert weights.find_problems(dest, ("weights",)) == []


def test_mirror_from_environment(fake_upstream, tmp_path, monkeypatch):
    monkeypatch.setenv(weights.MIRROR_ENV, str(fake_upstream))
    monkeypatch.setattr(weights, "_download", lambda *a: pytest.fail("the network must not be used"))
    weights.fetch(weights.GROUPS, dest=tmp_path / "d", quiet=True)
    assert (tmp_path / "d/test_data_set/0/c.npy").read_bytes() == b"c"


def test_corrupted_file_is_rejected_and_not_kept(fake_upstream, tmp_path):
    (fake_upstream / "weights/b.npy").write_bytes(b"beta" * 99)  # truncated
    dest = tmp_path / "dest"
    with pytest.raises(weights.WeightsError, match="weights/b.npy .* has SHA-256"):
        weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert sorted(p.name for p in (dest / "weights").iterdir()) == ["a.npy"]  # no partial, no bad copy


def test_bad_local_copy_is_replaced(fake_upstream, tmp_path):
    dest = tmp_path / "dest"
    (dest / "weights").mkdir(parents=True)
    (dest / "weights/a.npy").write_bytes(b"garbage")
    assert weights.find_problems(dest, ("weights",)) == [
        f"wrong SHA-256 (corrupted or truncated): {dest / 'weights/a.npy'}", f"missing: {dest / 'weights/b.npy'}"]
    weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert (dest / "weights/a.npy").read_bytes() == b"alpha" * 100


def test_missing_mirror_file_and_missing_mirror_folder(fake_upstream, tmp_path):
    (fake_upstream / "weights/a.npy").unlink()
    with pytest.raises(weights.WeightsError, match="has no file weights/a.npy"):
        weights.fetch(("weights",), dest=tmp_path / "d", mirror=fake_upstream, quiet=True)
    with pytest.raises(weights.WeightsError, match="does not exist"):
        weights.fetch(("weights",), dest=tmp_path / "d", mirror=tmp_path / "nowhere", quiet=True)


def test_offline_network_error_names_the_mirror_variable(fake_upstream, tmp_path, monkeypatch):
    def refuse(url, timeout):
        assert timeout == 20.0
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(weights.urllib.request, "urlopen", refuse)
    with pytest.raises(weights.WeightsError, match="CLASSVIZ_WEIGHTS_MIRROR") as info:
        weights.fetch(("weights",), dest=tmp_path / "d", quiet=True)
    assert "raw.githubusercontent.com/webmachinelearning/webnn-polyfill/0f40904d" in str(info.value)
    assert not any((tmp_path / "d").rglob("*.npy")) and not any((tmp_path / "d").rglob("*.partial"))


def test_interrupted_download_leaves_nothing_and_rerun_recovers(fake_upstream, tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    real_copy = weights._copy_from_mirror

    def half_then_interrupt(mirror, rel, tmp):
        Path(tmp).write_bytes((mirror / rel).read_bytes()[:10])
        raise KeyboardInterrupt
    monkeypatch.setattr(weights, "_copy_from_mirror", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert list((dest / "weights").iterdir()) == []
    monkeypatch.setattr(weights, "_copy_from_mirror", real_copy)
    weights.fetch(("weights",), dest=dest, mirror=fake_upstream, quiet=True)
    assert weights.find_problems(dest, ("weights",)) == []


@pytest.mark.weights
def test_loader_rejects_missing_and_corrupted_real_files(weights_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch-weights"):
        load_weight_arrays(tmp_path / "nothing-here")
    bad = tmp_path / "copy"
    (bad / "weights").mkdir(parents=True)
    for f in (weights_dir / "weights").iterdir():
        (bad / "weights" / f.name).write_bytes(f.read_bytes())
    arrays = load_weight_arrays(bad)
    assert arrays["conv0_weight"].shape == (64, 3, 3, 3) and arrays["conv25_weight"].shape == (1000, 512, 1, 1)
    assert sum(a.size for a in arrays.values()) == 1_235_496
    data = (bad / "weights/squeezenet0_conv3_weight.npy").read_bytes()
    (bad / "weights/squeezenet0_conv3_weight.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="squeezenet0_conv3_weight.npy does not match its SHA-256"):
        load_weight_arrays(bad)
    (bad / "weights/squeezenet0_conv7_bias.npy").unlink()
    (bad / "weights/squeezenet0_conv3_weight.npy").write_bytes(data)
    with pytest.raises(FileNotFoundError, match="squeezenet0_conv7_bias.npy is missing"):
        load_weight_arrays(bad)


def test_the_first_fetch_prints_one_line_on_stdout_and_nothing_on_stderr(fake_upstream, tmp_path, capfd):
    """Jupyter shows stderr in red: the first run's download is one line on stdout (issue 19), then silence."""
    weights.fetch(weights.GROUPS, dest=tmp_path / "d", mirror=fake_upstream)
    out, err = capfd.readouterr()
    assert (out, err) == ("Fetching 3 SqueezeNet 1.1 files (weights, test_data_set) from the local copy... done, each "
                          "checked by SHA-256.\n", "")
    weights.fetch(weights.GROUPS, dest=tmp_path / "d", mirror=fake_upstream)
    assert capfd.readouterr() == ("", "")


def test_a_failed_fetch_ends_its_line(fake_upstream, tmp_path, capfd):
    (fake_upstream / "weights/b.npy").write_bytes(b"tampered")
    with pytest.raises(weights.WeightsError, match="SHA-256"):
        weights.fetch(("weights",), dest=tmp_path / "d", mirror=fake_upstream)
    assert capfd.readouterr() == ("Fetching 2 SqueezeNet 1.1 files (weights) from the local copy... failed.\n", "")
