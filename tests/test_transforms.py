import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from classviz import blur_image, jitter, random_jitter_offsets, unjitter


def test_blur_equals_scipy_on_height_and_width_only():
    X = np.random.default_rng(0).standard_normal((2, 16, 12, 3)).astype(np.float32)
    out = blur_image(X, sigma=0.5)
    np.testing.assert_allclose(out, gaussian_filter(X, sigma=(0, 0.5, 0.5, 0)), rtol=1e-5, atol=1e-6)
    # nothing leaks across images or channels: a delta in one image/channel stays there
    delta = np.zeros((2, 9, 9, 3), np.float32)
    delta[1, 4, 4, 2] = 1.0
    out = blur_image(delta, sigma=1.0)
    assert out[0].max() == 0.0 and out[1, ..., :2].max() == 0.0
    np.testing.assert_allclose(out[1, ..., 2].sum(), 1.0, rtol=1e-5)
    assert out[1, 4, 4, 2] < 1.0


def test_jitter_is_a_circular_shift_undone_bit_for_bit():
    X = np.random.default_rng(1).standard_normal((1, 10, 8, 3)).astype(np.float32)
    J = jitter(X, 3, -2)
    assert J[0, 3, 0, 0] == X[0, 0, 2, 0]          # pixel (0, 2) moved down 3 and left 2
    assert J[0, 0, 6, 1] == X[0, 7, 0, 1]          # and what left one edge re-entered at the other
    np.testing.assert_array_equal(unjitter(J, 3, -2), X)


def test_jitter_offsets_are_seeded_and_in_range():
    a = [random_jitter_offsets(np.random.default_rng(7), 16) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(0)
    draws = np.array([random_jitter_offsets(rng, 2) for _ in range(500)])
    assert draws.min() == -2 and draws.max() == 2
    assert random_jitter_offsets(np.random.default_rng(0), 0) == (0, 0)


@pytest.mark.parametrize("args, error", [
    ((np.random.default_rng(0), -1), ValueError),
    ((np.random.default_rng(0), 2.5), TypeError),
    ((np.random, 3), TypeError),
])
def test_jitter_offsets_reject_bad_input(args, error):
    with pytest.raises(error):
        random_jitter_offsets(*args)


def test_blur_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\)"):
        blur_image(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        blur_image(np.zeros((1, 4, 4, 3)), sigma=0)
