"""The data layer: an image, its heat-equation sequence with exact targets in the network's
coordinates, and the batches drawn from it. It imports only inr.vocabulary and inr.io.

    images.py    reading and resampling images (PIXEL_RANGE, MIN_IMAGE_SIDE, ImageError), and
                 the label an image goes by (image_label)
    heat.py      the units, the diffusion (spectral or explicit) and its targets
    batches.py   TrainingData: the sequence as tensors on a device, and its batches
"""
from __future__ import annotations

from inr.data.batches import TrainingData
from inr.data.heat import (DIFFUSION_METHODS, DiffusionSequence, coordinate_grid, cosine_basis,
                           default_times, diffuse, neumann_gradient, neumann_laplacian,
                           pixel_centres, pixel_spacing, stable_step)
from inr.data.images import (BUNDLED_IMAGES, MIN_IMAGE_SIDE, PIXEL_RANGE, ImageError,
                             centred_square, frame_shape, image_label, load_image, resize_image,
                             resolve_image)

__all__ = ["BUNDLED_IMAGES", "DIFFUSION_METHODS", "MIN_IMAGE_SIDE", "PIXEL_RANGE",
           "DiffusionSequence", "ImageError", "TrainingData", "centred_square", "coordinate_grid",
           "cosine_basis", "default_times", "diffuse", "frame_shape", "image_label", "load_image",
           "neumann_gradient", "neumann_laplacian", "pixel_centres", "pixel_spacing",
           "resize_image", "resolve_image", "stable_step"]
