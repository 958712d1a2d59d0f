"""Images to network inputs, the way each source framework prepares them.

A network loaded from a file records its framework's convention in
``net.preprocessing`` (a :class:`Preprocessing`); :func:`preprocess` applies it:

1. the image (a path, a PIL image or an HxWx3 uint8 array) becomes 8-bit RGB
   (:func:`to_rgb`): its EXIF orientation is applied, as phone photos need
   (``exif_transpose=False`` keeps the stored pixel order); 16-bit greyscale is
   scaled to 8 bits (value / 257); CMYK becomes (255 - C) * (255 - K) / 255;
   transparent pixels (an alpha channel, or a palette or colour key marked
   transparent) are composited on white (``BACKGROUND``); modes ``I`` and
   ``F`` (32-bit integer and float pixels, whose range is not defined) are
   refused with a ValueError;
2. optionally a central crop (``crop``, the fraction of the image kept), done
   the TF-slim way (``crop_mode="crop_then_resize"``: cut the central fraction,
   then resize it to the network's input) or the timm/torchvision way
   (``"resize_then_crop"``: resize the shorter side to size / crop, then cut the
   central size x size);
3. a resize to the network's input size with Pillow (``interpolation``);
4. scaling: ``(pixel / 255 - mean) / std`` per RGB channel, as float32 NHWC.

TF-slim, Keras and TFLite models use mean = std = 0.5 (pixels scaled to
[-1, 1]); timm's mobilenetv1 weights use Inception's mean = std = 0.5 too, with
a 0.875 crop (0.9 for the 1.25 width) and bicubic resizing.
"""
from __future__ import annotations

import math
import os
import types
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Sequence, Tuple, Union, cast

import numpy as np

from ._files import existing_file

if TYPE_CHECKING:
    from PIL.Image import Image

    from .model import MobileNetV1

CROP_MODES = ("crop_then_resize", "resize_then_crop")
BACKGROUND = (255, 255, 255)  # what transparent pixels are composited on
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
EXIF_ORIENTATION = 0x0112
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class Preprocessing:
    """How a network's source framework turns an image into its input (see the module docstring).

    mean, std: per RGB channel, in units of pixel / 255. crop: fraction of the
    image kept by the central crop, or None for the whole image. crop_mode:
    "crop_then_resize" (TF-slim) or "resize_then_crop" (timm). interpolation:
    Pillow's resampling filter name. note: where the convention comes from.
    """

    mean: Tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: Tuple[float, float, float] = (0.5, 0.5, 0.5)
    crop: Optional[float] = None
    crop_mode: str = "crop_then_resize"
    interpolation: str = "bilinear"
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not all(math.isfinite(v) for v in value):
                raise ValueError(f"preprocessing {name} must be 3 finite numbers, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"preprocessing std must be positive, got {self.std}")
        if self.crop is not None:
            crop = float(self.crop)
            if not 0 < crop <= 1:
                raise ValueError(f"preprocessing crop must be in (0, 1] or None, got {self.crop!r}")
            object.__setattr__(self, "crop", crop)
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"preprocessing crop_mode must be one of {CROP_MODES}, got {self.crop_mode!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"preprocessing interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> Preprocessing:
        if not isinstance(d, dict):
            raise ValueError(f"preprocessing must be a dict, got {type(d).__name__}")
        unknown = set(d) - {"mean", "std", "crop", "crop_mode", "interpolation", "note"}
        if unknown:
            raise ValueError(f"preprocessing has unknown keys {sorted(unknown)}")
        return cls(**d)


# TF-slim / Keras / TFLite: x / 127.5 - 1 on the whole image, bilinear (what the
# published TFLite reference results use).
TENSORFLOW = Preprocessing(note="TensorFlow (TF-slim, Keras, TFLite): RGB scaled to [-1, 1], whole image, bilinear")


def timm_mobilenetv1(crop: float = 0.875) -> Preprocessing:
    """timm's pretrained_cfg for mobilenetv1_*: Inception mean/std, bicubic, resize-then-center-crop."""
    return Preprocessing(crop=crop, crop_mode="resize_then_crop", interpolation="bicubic",
                         note=f"timm mobilenetv1: Inception mean/std 0.5, crop_pct {crop:g}, bicubic")


def _pil() -> types.ModuleType:
    from ._optional import require
    return require("PIL.Image", "image preprocessing")


def _orientation(img: Image) -> int:
    try:
        value = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels are still an image
        return 1
    return value if isinstance(value, int) else 1


def _transpose(img: Image, orientation: int) -> Image:
    """The pixels the way a viewer shows them: ImageOps.exif_transpose's rotations and flips."""
    Image = _pil()
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return img.transpose(method) if method is not None else img


def to_rgb(img: Image) -> Image:
    """A PIL image of any mode as 8-bit RGB, as the module docstring describes (no EXIF rotation)."""
    Image = _pil()
    mode = img.mode
    if mode == "RGB":
        return img
    # Older Pillow versions open 16-bit greyscale PNGs as "I" (PNG has no 32-bit integers).
    if mode in SIXTEEN_BIT_MODES or (mode == "I" and img.format == "PNG"):
        # Pillow's own conversion to "L" clips at 255, which turns the image white.
        value = np.asarray(img).astype(np.uint32)
        grey = ((value * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in ("I", "F"):
        kind = "32-bit integer" if mode == "I" else "32-bit float"
        raise ValueError(f"image mode {mode!r} ({kind} pixels) has no defined range of values: "
                         "scale it to 8 bits (mode 'L' or 'RGB') or to 16 bits (mode 'I;16') first")
    if mode == "CMYK":
        # Computed here: Pillow's formula changed between versions (255 - C - K in older ones).
        cmyk = np.asarray(img).astype(np.uint32)
        rgb = ((255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    if mode in ("La", "RGBa"):  # premultiplied alpha
        img, mode = img.convert(mode[:-1] + "A"), mode[:-1] + "A"
    if mode in ("LA", "PA", "RGBA") or (mode in ("1", "L", "P", "RGB") and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA")).astype(np.uint32)
        alpha = rgba[..., 3:]
        rgb = (rgba[..., :3] * alpha + np.array(BACKGROUND, np.uint32) * (255 - alpha) + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    try:
        return img.convert("RGB")
    except ValueError as e:
        raise ValueError(f"image mode {mode!r} cannot be converted to RGB ({e})") from e


def _to_pil(image: object, exif_transpose: bool = True) -> Image:
    Image = _pil()
    if isinstance(image, (str, os.PathLike)):
        path = existing_file(image, "image file")
        try:
            with Image.open(path) as img:
                img.load()
                orientation = _orientation(img) if exif_transpose else 1
                return _transpose(to_rgb(img), orientation)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"{path}: not a readable image ({e})") from e
    if isinstance(image, Image.Image):
        orientation = _orientation(image) if exif_transpose else 1
        return _transpose(to_rgb(image), orientation)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"an image array must be uint8 (H, W, 3), got dtype {image.dtype}")
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"an image array must have shape (H, W, 3), got {image.shape}")
        return Image.fromarray(np.ascontiguousarray(image), "RGB")
    raise TypeError(f"image must be a path, a PIL image or a uint8 (H, W, 3) array, got {type(image).__name__}")


def _resample(name: str) -> Any:  # a PIL.Image.Resampling member
    Image = _pil()
    return getattr(Image.Resampling, name.upper())


def _center_box(width: int, height: int, crop_w: int, crop_h: int) -> Tuple[int, int, int, int]:
    left = int(round((width - crop_w) / 2.0))
    top = int(round((height - crop_h) / 2.0))
    return left, top, left + crop_w, top + crop_h


def resize_and_crop(image: object, size: Tuple[int, int], pre: Preprocessing, *,
                    exif_transpose: bool = True) -> Image:
    """The PIL image of the network's input size, (height, width), before scaling."""
    img = _to_pil(image, exif_transpose)
    height, width = size
    resample = _resample(pre.interpolation)
    if pre.crop is not None and pre.crop_mode == "resize_then_crop":
        # timm: the shorter side goes to floor(size / crop), then the central size x size.
        short = math.floor(max(height, width) / pre.crop)
        w, h = img.size
        if w <= h:
            new_w, new_h = short, max(height, int(short * h / w))
        else:
            new_w, new_h = max(width, int(short * w / h)), short
        img = img.resize((new_w, new_h), resample)
        return img.crop(_center_box(new_w, new_h, width, height))
    if pre.crop is not None:
        # TF-slim central_crop: keep the central fraction of each side.
        w, h = img.size
        crop_w, crop_h = max(1, int(round(w * pre.crop))), max(1, int(round(h * pre.crop)))
        img = img.crop(_center_box(w, h, crop_w, crop_h))
    if img.size != (width, height):
        img = img.resize((width, height), resample)
    return img


def preprocess(image: object, net: Optional[MobileNetV1] = None, *, preprocessing: Optional[Preprocessing] = None,
               size: Union[int, Sequence[int], None] = None,
               exif_transpose: bool = True) -> np.ndarray:
    """An image as the network's input: float32 (1, H, W, 3), NHWC.

    image: a path, a PIL image (any mode; see the module docstring) or a uint8
    (H, W, 3) RGB array. net: the network (its input size and
    ``net.preprocessing`` are used); ``preprocessing`` and ``size`` (an int or
    (height, width)) override them. exif_transpose: turn the image the way its
    EXIF orientation says (default), as viewers do; False uses the stored pixels.
    """
    if not isinstance(exif_transpose, (bool, np.bool_)):
        raise TypeError(f"exif_transpose must be True or False, got {exif_transpose!r}")
    pre = preprocessing if preprocessing is not None else getattr(net, "preprocessing", None)
    if pre is None:
        pre = TENSORFLOW
    if isinstance(pre, dict):
        pre = Preprocessing.from_dict(pre)
    if not isinstance(pre, Preprocessing):
        raise TypeError(f"preprocessing must be a Preprocessing, got {type(pre).__name__}")
    if size is None:
        if net is None:
            raise ValueError("preprocess needs the network (for its input size) or size=")
        size = tuple(net.input_shape[:2])
    elif isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    else:
        try:
            # A bool or other non-iterable raises the TypeError caught here.
            size = tuple(int(s) for s in cast(Iterable[Any], size))
        except (TypeError, ValueError):
            raise TypeError(f"size must be a positive int or (height, width), got {size!r}") from None
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    img = resize_and_crop(image, size, pre, exif_transpose=bool(exif_transpose))
    pixels = np.asarray(img, dtype=np.float64)
    mean, std = np.asarray(pre.mean), np.asarray(pre.std)
    x = (pixels / 255.0 - mean) / std
    return x.astype(np.float32)[None]
