"""Images as the suite reads them: grayscale float64 in [0, 1], resampled to a size, with
one-line errors that name the file and the problem."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.color import rgb2gray
from skimage.transform import resize

PIXEL_RANGE = 1.0  # intensities live in [0, 1]: the data range of PSNR and SSIM on the value
MIN_IMAGE_SIDE = 16  # px: smaller images cannot carry an 11-px SSIM window after diffusion


class ImageError(ValueError):
    """A missing, unreadable or unusable image; the message names the file and the problem."""


# scikit-image's bundled 2-D photographs, textures and documents, by the name of its loader
# (skimage.data.<name>): files inside the installed package, so nothing is downloaded
BUNDLED_IMAGES = {"astronaut": "astronaut.png", "brick": "brick.png", "camera": "camera.png",
                  "cell": "cell.png", "chelsea": "chelsea.png", "coffee": "coffee.png",
                  "coins": "coins.png", "grass": "grass.png", "gravel": "gravel.png",
                  "horse": "horse.png", "moon": "moon.png", "page": "page.png",
                  "text": "text.png"}


def resolve_image(name_or_path: str | Path) -> Path:
    """An image file: `name_or_path` itself where it is a file, else the file of one of
    scikit-image's bundled images (BUNDLED_IMAGES); a one-line ImageError otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path.resolve()
    name = str(name_or_path)
    if name in BUNDLED_IMAGES:
        import skimage.data

        bundled = Path(skimage.data.__file__).parent / BUNDLED_IMAGES[name]
        if bundled.is_file():
            return bundled
        raise ImageError(f"{name}: scikit-image's bundled file {bundled} is missing")
    raise ImageError(f"unknown image {name!r}: no such file, and not one of scikit-image's "
                     f"bundled images ({', '.join(BUNDLED_IMAGES)})")


def image_label(image: str | Path) -> str:
    """The name an image goes by in run names, records and reports: its file's stem
    ('/data/camera.png' -> 'camera'), which for a bundled image is its own name ('camera');
    '' for ''."""
    return Path(image).stem


# ----------------------------------------------------------------------------- images

def load_image(path: str | Path, size: int | Sequence[int] | None = None) -> np.ndarray:
    """Read a grayscale or RGB(A) image as float64 luminance in [0, 1], shape (H, W).

    size: None (keep), an int N (N x N) or (H, W); resampled with anti-aliasing. For an int
    size a non-square image is first cropped to its centred square, so nothing is stretched.
    RGB is converted with scikit-image's rgb2gray (ITU-R 709 luma); alpha is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        raw = np.asarray(iio.imread(path, index=0))
    except Exception as err:  # imageio raises many types for corrupt data
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImageError(f"{path}: cannot read image ({detail})") from None

    image = _to_unit_float(raw, path)
    if image.ndim == 3:
        if image.shape[-1] == 4:
            image = image[..., :3]
        if image.shape[-1] == 3:
            image = rgb2gray(image)
        elif image.shape[-1] == 1:
            image = image[..., 0]
        else:
            raise ImageError(f"{path}: expected grayscale or RGB, got shape {raw.shape}")
    if image.ndim != 2 or min(image.shape) == 1:
        raise ImageError(f"{path}: image must be 2-D, got shape {raw.shape}")
    if min(image.shape) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{path}: image of {image.shape[0]}x{image.shape[1]} px is smaller than "
            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")
    if size is not None and np.isscalar(size):
        image = centred_square(image)
    return resize_image(image, size, name=str(path)) if size is not None else image


def centred_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of (H, W) (the image itself when square)."""
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def frame_shape(image: str | Path,
                size: int | Sequence[int] | None = None) -> tuple[int, int]:
    """(H, W) of the frames made from `image` at `size` (int N, (H, W), or None: the image's
    own shape, read from the file)."""
    if size is None:
        return load_image(image).shape
    return (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)


def _to_unit_float(raw: np.ndarray, path: Path) -> np.ndarray:
    """Integers scale by their dtype's maximum; floats must already lie in [0, 1]."""
    if raw.dtype == bool:
        return raw.astype(np.float64)
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.float64) / np.iinfo(raw.dtype).max
    image = raw.astype(np.float64)
    if not np.all(np.isfinite(image)):
        raise ImageError(f"{path}: image holds NaN or inf values")
    if image.size and (image.min() < 0 or image.max() > 1):
        raise ImageError(f"{path}: float image values must lie in [0, 1], "
                         f"got [{image.min():.3g}, {image.max():.3g}]")
    return image


def resize_image(image: np.ndarray, size: int | Sequence[int],
                 name: str = "image") -> np.ndarray:
    """Resample (H, W) to size (int N or (H, W)) with anti-aliasing; values stay in [0, 1]."""
    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(shape) != 2 or min(shape) < MIN_IMAGE_SIDE:
        raise ImageError(f"{name}: size {size} must be 2 sides of at least {MIN_IMAGE_SIDE} px")
    if shape == image.shape:
        return image
    out = resize(image, shape, order=1, anti_aliasing=shape[0] < image.shape[0]
                 or shape[1] < image.shape[1], preserve_range=True)
    return np.clip(out, 0.0, 1.0)
