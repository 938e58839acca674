import numpy as np
import pytest

import classviz
from classviz.squeezenet import _ceil_mode_extra_padding, build_squeezenet


@pytest.mark.parametrize("size, extra", [(111, 0), (55, 0), (27, 0), (112, 1), (8, 1), (7, 0)])
def test_ceil_mode_padding(size, extra):
    # ceil((size - 3) / 2) + 1 windows: 112 -> 56 needs one extra column, 111 -> 55 none
    assert _ceil_mode_extra_padding(size) == extra


def test_architecture_without_weights():
    model = build_squeezenet(None)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert model.count_params() == 1_235_496
    assert not model.trainable
    assert [l.name for l in model.layers if l.name.startswith("maxpool")] == ["maxpool0", "maxpool2", "maxpool4"]


@pytest.mark.weights
@pytest.mark.parametrize("k", [0, 1, 2])
def test_reproduces_onnx_reference_outputs(squeezenet, weights_dir, k):
    x = np.load(weights_dir / f"test_data_set/{k}/input_0.npy")    # (1, 3, 224, 224) raw values
    expected = np.load(weights_dir / f"test_data_set/{k}/output_0.npy")
    out = np.asarray(squeezenet(np.transpose(x, (0, 2, 3, 1))))
    assert out.shape == (1, 1000) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-3, rtol=0)
    assert out.argmax() == expected.argmax()


def _top5(model, photo):
    from PIL import Image

    img = np.asarray(Image.fromarray(photo).resize((224, 224), Image.BILINEAR))
    scores = np.asarray(model(classviz.preprocess_image(img)[None]))[0]
    return list(np.argsort(-scores)[:5])


@pytest.mark.weights
def test_real_photos(squeezenet):
    from skimage import data

    cat = _top5(squeezenet, data.chelsea())
    assert set(cat) & {281, 282, 283, 284, 285, 287}, [classviz.class_name(i) for i in cat]  # cats (and lynx)
    cup = _top5(squeezenet, data.coffee())
    assert cup[0] == 967, [classviz.class_name(i) for i in cup]  # espresso


def test_load_squeezenet_names_the_fix_for_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m classviz fetch-weights"):
        classviz.load_squeezenet(tmp_path / "missing")
