import numpy as np
import pytest

from classviz import (PREPROCESSED_MAX, PREPROCESSED_MIN, SQUEEZENET_MEAN, SQUEEZENET_STD, clip_to_valid_range,
                      deprocess_image, preprocess_image)


def test_preprocess_values():
    img = np.array([[[0, 128, 255]]], dtype=np.uint8)
    expected = (np.array([0, 128, 255]) / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    out = preprocess_image(img)
    assert out.dtype == np.float32 and out.shape == (1, 1, 3)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


def test_round_trip_is_exact_for_every_uint8_value():
    img = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None], (256, 4, 3)).copy()
    np.testing.assert_array_equal(deprocess_image(preprocess_image(img)), img)
    batch = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(deprocess_image(preprocess_image(batch)), batch)


def test_deprocess_clips_before_cast():
    # values that would deprocess to 300 and -40 must become 255 and 0, not wrap around to 44 and 216
    x = ((np.array([[[300.0, -40.0, 100.0]]]) / 255 - SQUEEZENET_MEAN) / SQUEEZENET_STD).astype(np.float32)
    np.testing.assert_array_equal(deprocess_image(x)[0, 0], [255, 0, 100])


def test_deprocess_rescale_stretches_to_full_range():
    x = preprocess_image(np.array([[[100, 150, 200]]], dtype=np.uint8))
    np.testing.assert_array_equal(deprocess_image(x, rescale=True)[0, 0], [0, 128, 255])


def test_clip_bounds_are_the_preprocessed_images_of_0_and_255():
    np.testing.assert_allclose(PREPROCESSED_MIN, preprocess_image(np.zeros((1, 1, 3)))[0, 0], rtol=1e-6)
    np.testing.assert_allclose(PREPROCESSED_MAX, preprocess_image(np.full((1, 1, 3), 255.0))[0, 0], rtol=1e-6)
    X = np.array([[[[-100.0, 0.0, 100.0]]]], dtype=np.float32)
    out = clip_to_valid_range(X)
    assert out[0, 0, 0, 0] == np.float32(PREPROCESSED_MIN[0])
    assert out[0, 0, 0, 1] == 0.0
    assert out[0, 0, 0, 2] == np.float32(PREPROCESSED_MAX[2])


@pytest.mark.parametrize("bad, error, words", [
    (np.zeros((224, 224)), ValueError, "shape (224, 224)"),
    (np.zeros((224, 224, 4)), ValueError, "(H, W, 3)"),
    (np.array([[["a", "b", "c"]]]), TypeError, "dtype <U1"),
    (np.full((2, 2, 3), np.nan), ValueError, "NaN"),
    (np.zeros((2, 2, 3), dtype=bool), TypeError, "dtype bool"),
])
def test_preprocess_rejects_bad_input(bad, error, words):
    with pytest.raises(error, match=None) as info:
        preprocess_image(bad)
    assert words in str(info.value)
