"""A diffusion sequence as flat torch tensors on one device and dtype, and the batches that
training draws from it."""
from __future__ import annotations

import torch

from inr.data.heat import DiffusionSequence


class TrainingData:
    """A DiffusionSequence as flat torch tensors on one device and dtype, handing out batches.

    A batch is a dict: coords (..., N, 3) as (x, y, t) and the four fields' targets, value
    (..., N), grad (..., N, 2), laplacian (..., N), dt (..., N); the leading dims are those of
    the index it was taken with.
    """

    def __init__(self, sequence: DiffusionSequence, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.sequence = sequence
        self.shape = sequence.shape  # (T, H, W)
        t, h, w = self.shape

        def flat(a, *trailing):
            return torch.as_tensor(a.reshape(t * h * w, *trailing), dtype=dtype, device=device)

        self.tensors = {"coords": flat(sequence.coords, 3), "value": flat(sequence.value),
                        "grad": flat(sequence.grad, 2), "laplacian": flat(sequence.laplacian),
                        "dt": flat(sequence.dt)}
        self.device, self.dtype = torch.device(device), dtype

    @property
    def points_per_frame(self) -> int:
        return self.shape[1] * self.shape[2]

    @property
    def samples(self) -> int:
        """Every pixel of every frame: T * H * W."""
        return self.shape[0] * self.points_per_frame

    def take(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The samples at flat indices `index` (any shape): a batch shaped index.shape + ..."""
        return {k: v[index] for k, v in self.tensors.items()}

    def all_points(self) -> dict[str, torch.Tensor]:
        """Every sample of every frame, frame by frame in row-major order: N = T * H * W."""
        return dict(self.tensors)

    def sample(self, generators: list[torch.Generator], points: int | None) -> dict:
        """One batch per generator, stacked (M, N, ...): batch m is drawn from generators[m].

        points: N samples drawn uniformly, with replacement, across all frames and pixels; or
        None for every pixel of one uniformly drawn frame (N = H * W, row-major). The draws use
        CPU generators, so a run's batches do not depend on the device it trains on; the
        indices reach an accelerator by an asynchronous copy, which does not wait for it.
        """
        if points is None:
            n = self.points_per_frame
            frames = torch.cat([torch.randint(self.shape[0], (1,), generator=g)
                                for g in generators])
            index = _on(frames, self.device)[:, None] * n + torch.arange(n, device=self.device)
        else:
            index = _on(torch.stack([torch.randint(self.samples, (points,), generator=g)
                                     for g in generators]), self.device)
        return self.take(index)


def _on(index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU index tensor on `device`: through pinned memory without a host wait on CUDA."""
    if device.type == "cuda":
        return index.pin_memory().to(device, non_blocking=True)
    return index.to(device)
