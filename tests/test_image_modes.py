"""preprocess on every Pillow mode: files of each mode, made here with Pillow, become the right 8-bit RGB."""
import numpy as np
import pytest

import mobilenet

Image = pytest.importorskip("PIL.Image")

SIZE = 16  # the images are as large as the network input: no resampling blurs the pixels


def pixels(path_or_image, **kw):
    """The 8-bit RGB pixels preprocess gives (undoing its [-1, 1] scaling)."""
    x = mobilenet.preprocess(path_or_image, size=SIZE, **kw)[0]
    return np.rint((x + 1.0) * 127.5).astype(np.int64)


def saved(tmp_path, img, name, **save):
    path = tmp_path / name
    img.save(path, **save)
    return path


def grey16():
    ramp = np.linspace(0, 65535, SIZE * SIZE).round().astype(np.uint16).reshape(SIZE, SIZE)
    return ramp, Image.fromarray(ramp)


@pytest.mark.parametrize("name", ["grey16.png", "grey16.tif"])
def test_16_bit_greyscale_is_scaled_to_8_bits(tmp_path, name):
    ramp, img = grey16()
    assert img.mode == "I;16"
    got = pixels(saved(tmp_path, img, name))
    want = np.rint(ramp / 257.0)
    np.testing.assert_array_equal(got, np.repeat(want[..., None], 3, axis=2))
    assert got.min() == 0 and got.max() == 255  # not all white


@pytest.mark.parametrize("mode", ["I;16B", "I;16L"])
def test_16_bit_byte_orders(mode):
    ramp, img = grey16()
    other = Image.frombytes(mode, img.size, ramp.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    np.testing.assert_array_equal(pixels(other), pixels(img))


def test_16_bit_png_opened_as_mode_i_is_16_bit(tmp_path):
    # Older Pillow versions open 16-bit greyscale PNGs as "I".
    ramp, img = grey16()
    with Image.open(saved(tmp_path, img, "g.png")) as png:
        png.load()
        as_i = png.convert("I")
        as_i.format = "PNG"
        np.testing.assert_array_equal(pixels(as_i), pixels(img))


@pytest.mark.parametrize("mode,kind", [("I", "32-bit integer"), ("F", "32-bit float")])
def test_modes_without_a_range_are_refused(tmp_path, mode, kind):
    img = Image.new(mode, (SIZE, SIZE), 1000)
    with pytest.raises(ValueError, match=f"image mode '{mode}' \\({kind}"):
        mobilenet.preprocess(img, size=SIZE)
    path = saved(tmp_path, img, f"{mode}.tif")
    with pytest.raises(ValueError, match=f"{path.name}.*image mode '{mode}'"):
        mobilenet.preprocess(path, size=SIZE)


def test_rgba_and_la_are_composited_on_white(tmp_path):
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 0
    rgba[:, :4, 3] = 0      # transparent: white
    rgba[:, 4:8, 3] = 255   # opaque: the colour
    rgba[:, 8:, 3] = 128    # half: between
    got = pixels(saved(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png"))
    np.testing.assert_array_equal(got[:, :4], 255)
    np.testing.assert_array_equal(got[:, 4:8], np.broadcast_to([200, 100, 0], (SIZE, 4, 3)))
    half = np.rint((np.array([200, 100, 0]) * 128 + 255 * 127) / 255)
    np.testing.assert_array_equal(got[:, 8:], np.broadcast_to(half, (SIZE, SIZE - 8, 3)))
    la = Image.fromarray(np.dstack([np.full((SIZE, SIZE), 40, np.uint8), rgba[..., 3]]), "LA")
    got = pixels(saved(tmp_path, la, "la.png"))
    np.testing.assert_array_equal(got[:, :4], 255)
    np.testing.assert_array_equal(got[:, 4:8], 40)
    # premultiplied alpha is unpremultiplied first
    np.testing.assert_array_equal(pixels(Image.fromarray(rgba, "RGBA").convert("RGBa")),
                                  pixels(Image.fromarray(rgba, "RGBA")))


def test_palette_with_a_transparent_entry(tmp_path):
    idx = np.zeros((SIZE, SIZE), np.uint8)
    idx[:, SIZE // 2:] = 1
    img = Image.fromarray(idx, "P")
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * (254 * 3))  # entry 0 is black
    path = saved(tmp_path, img, "p.png", transparency=0)
    with Image.open(path) as check:
        assert check.mode == "P" and check.info.get("transparency") == 0
    got = pixels(path)
    np.testing.assert_array_equal(got[:, :SIZE // 2], 255)  # the transparent black is white, not black
    np.testing.assert_array_equal(got[:, SIZE // 2:], np.broadcast_to([10, 200, 30], (SIZE, SIZE // 2, 3)))
    gif = pixels(saved(tmp_path, img, "p.gif", transparency=0))
    np.testing.assert_array_equal(gif, got)


def test_cmyk(tmp_path):
    cmyk = np.zeros((SIZE, SIZE, 4), np.uint8)
    cmyk[0, 0] = (255, 0, 0, 0)       # cyan
    cmyk[0, 1] = (0, 0, 0, 255)       # black
    cmyk[0, 2] = (128, 0, 64, 128)    # (255-C)(255-K)/255 per channel
    img = Image.fromarray(cmyk, "CMYK")
    for source in (img, saved(tmp_path, img, "cmyk.tif"), saved(tmp_path, img, "cmyk.jpg", quality=100)):
        got = pixels(source)
        tolerance = 3 if str(source).endswith(".jpg") else 0  # JPEG is lossy
        np.testing.assert_allclose(got[0, 0], [0, 255, 255], atol=tolerance)
        np.testing.assert_allclose(got[0, 1], [0, 0, 0], atol=tolerance)
        np.testing.assert_allclose(got[0, 2], np.rint(np.array([127, 255, 191]) * 127 / 255), atol=tolerance)
        np.testing.assert_allclose(got[1:], 255, atol=tolerance)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBX", "YCbCr", "HSV", "PA"])
def test_other_modes_become_rgb(mode):
    from mobilenet.preprocess import to_rgb
    img = Image.new("RGB", (SIZE, SIZE), (90, 160, 220)).convert(mode)
    rgb = to_rgb(img)
    assert rgb.mode == "RGB" and rgb.size == img.size


def exif_photo(tmp_path, orientation):
    """A JPEG whose stored pixels are a tall red-over-blue image, with an EXIF orientation tag."""
    a = np.zeros((SIZE, SIZE // 2, 3), np.uint8)
    a[: SIZE // 2] = (255, 0, 0)
    a[SIZE // 2:] = (0, 0, 255)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return a, saved(tmp_path, img, f"o{orientation}.jpg", exif=exif.tobytes(), quality=100)


def test_exif_orientation_is_applied_by_default(tmp_path):
    from PIL import ImageOps
    _, path = exif_photo(tmp_path, 6)  # 6: the camera was turned; viewers rotate 90 degrees clockwise
    turned = mobilenet.preprocess(path, size=(SIZE // 2, SIZE))   # the shown image is wide
    with Image.open(path) as img:
        want = ImageOps.exif_transpose(img).convert("RGB").resize((SIZE, SIZE // 2), Image.Resampling.BILINEAR)
    want = np.asarray(want, np.float64) / 127.5 - 1
    np.testing.assert_allclose(turned[0], want, atol=1e-6)
    # turned clockwise: the stored top (red) is on the right
    assert turned[0, :, : SIZE // 2 - 2, 2].mean() > 0.9 and turned[0, :, SIZE // 2 + 2:, 0].mean() > 0.9
    # the same for a PIL image
    with Image.open(path) as img:
        np.testing.assert_array_equal(mobilenet.preprocess(img, size=(SIZE // 2, SIZE)), turned)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, orientation):
    from PIL import ImageOps
    _, path = exif_photo(tmp_path, orientation)
    with Image.open(path) as img:
        want = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    from mobilenet.preprocess import _to_pil
    np.testing.assert_array_equal(np.asarray(_to_pil(path)), want)


def test_exif_orientation_can_be_turned_off(tmp_path):
    _, path = exif_photo(tmp_path, 6)
    raw = mobilenet.preprocess(path, size=(SIZE, SIZE // 2), exif_transpose=False)
    with Image.open(path) as img:
        want = np.asarray(img.convert("RGB"), np.float64) / 127.5 - 1
    np.testing.assert_allclose(raw[0], want, atol=1e-6)
    with pytest.raises(TypeError, match="exif_transpose"):
        mobilenet.preprocess(path, size=SIZE, exif_transpose="no")


def test_classify_can_turn_exif_off(tmp_path):
    from mobilenet import cli
    args = cli.make_parser().parse_args(["classify", "x.jpg", "--weights", "w.npz", "--no-exif-transpose"])
    assert args.exif_transpose is False
    args = cli.make_parser().parse_args(["classify", "x.jpg", "--weights", "w.npz"])
    assert args.exif_transpose is True
