"""mobilenet.preprocess: images (paths, PIL images, uint8 arrays) to network inputs, per source framework."""
import numpy as np
import pytest

import mobilenet
from mobilenet.preprocess import Preprocessing, resize_and_crop, timm_mobilenetv1

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def net():
    return mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=5, threads=1)


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)


def test_paths_pil_images_and_arrays_agree(tmp_path, net, photo):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    from_array = mobilenet.preprocess(photo, net)
    assert from_array.shape == (1, 64, 64, 3) and from_array.dtype == np.float32
    np.testing.assert_array_equal(mobilenet.preprocess(path, net), from_array)
    np.testing.assert_array_equal(mobilenet.preprocess(str(path), net), from_array)
    np.testing.assert_array_equal(mobilenet.preprocess(Image.fromarray(photo).convert("RGBA"), net), from_array)
    assert net(from_array).shape == (1, 5)


def test_scaling_is_mean_std_per_channel(net):
    flat = np.zeros((64, 64, 3), np.uint8)
    flat[..., 0], flat[..., 1], flat[..., 2] = 0, 255, 51
    x = mobilenet.preprocess(flat, net)  # TensorFlow's default: [-1, 1]
    np.testing.assert_allclose(x[0, 0, 0], [-1.0, 1.0, 51 / 127.5 - 1], rtol=1e-6)
    pre = Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    y = mobilenet.preprocess(flat, net, preprocessing=pre)
    np.testing.assert_allclose(y[0, 5, 7], (np.array([0, 1, 0.2]) - pre.mean) / pre.std, rtol=1e-6)


def test_timm_resize_then_center_crop(photo):
    # timm: shorter side to floor(224 / 0.875) = 256, then the central 224 x 224.
    pre = timm_mobilenetv1(0.875)
    img = resize_and_crop(photo, (224, 224), pre)
    assert img.size == (224, 224)
    big = Image.fromarray(photo).resize((341, 256), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(big)[16:240, 58:282])


def test_tf_slim_central_crop_then_resize(photo):
    pre = Preprocessing(crop=0.5)
    img = resize_and_crop(photo, (32, 32), pre)
    want = Image.fromarray(photo[22:67, 30:90]).resize((32, 32), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(want))


def test_bad_images(tmp_path, net):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        mobilenet.preprocess(tmp_path / "missing.jpg", net)
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ValueError, match=r"text\.jpg: not a readable image"):
        mobilenet.preprocess(tmp_path / "text.jpg", net)
    with pytest.raises(ValueError, match="directory"):
        mobilenet.preprocess(tmp_path, net)
    with pytest.raises(TypeError, match="uint8"):
        mobilenet.preprocess(np.zeros((8, 8, 3), np.float32), net)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        mobilenet.preprocess(np.zeros((8, 8), np.uint8), net)
    with pytest.raises(TypeError, match="image must be"):
        mobilenet.preprocess(12, net)
    with pytest.raises(ValueError, match="size"):
        mobilenet.preprocess(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("kwargs, match", [(dict(crop=1.5), "crop"), (dict(std=(0, 1, 1)), "std"),
                                           (dict(mean=(1, 2)), "mean"), (dict(crop_mode="zoom"), "crop_mode"),
                                           (dict(interpolation="magic"), "interpolation")])
def test_bad_preprocessing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Preprocessing(**kwargs)


def test_preprocessing_dict_round_trip():
    pre = timm_mobilenetv1(0.9)
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    with pytest.raises(ValueError, match="unknown keys"):
        Preprocessing.from_dict({"scale": 2})
