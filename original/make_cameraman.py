"""Writes original/cameraman.png: scikit-image's bundled 512x512 camera() at 256x256, 8-bit gray.

Run once from the repository root: python original/make_cameraman.py
"""
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data
from skimage.transform import resize

SIDE = 256

image = resize(data.camera() / 255.0, (SIDE, SIDE), order=1, anti_aliasing=True)
iio.imwrite(Path(__file__).with_name("cameraman.png"), np.round(image * 255).astype(np.uint8))
