"""Streaming top-k per neuron: bounded memory however large the image corpus.

The neuron analyses need, for every unit, its k strongest responses over a corpus
of (potentially) millions of images. Keeping all activations is impossible at that
scale, so each batch is merged into a running ``[C, k]`` table on the device and
everything else is dropped.
"""

from __future__ import annotations

import torch


class TopK:
    """The k largest values per channel seen so far, with their ids and a payload.

    ``ids`` identify where a value came from (an image index); ``payload`` carries
    per-entry extras chosen by the caller (the spatial position of the response, the
    share of it on a stimulus part...), moved along with the value it belongs to.
    Empty slots hold ``-inf`` and id ``-1``.
    """

    def __init__(
        self, channels: int, k: int, payload: int = 0, device: torch.device | str = "cpu"
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.values = torch.full((channels, k), float("-inf"), device=device)
        self.ids = torch.full((channels, k), -1, dtype=torch.long, device=device)
        self.payload = torch.zeros((channels, k, payload), device=device)

    def update(
        self, values: torch.Tensor, ids: torch.Tensor, payload: torch.Tensor | None = None
    ) -> None:
        """Merge ``values [C, M]`` with ``ids [M]`` (or ``[C, M]``) and ``payload [C, M, P]``."""
        channels, m = values.shape
        if ids.dim() == 1:
            ids = ids.to(self.ids.device).expand(channels, m)
        if payload is None:
            payload = self.payload.new_zeros((channels, m, self.payload.shape[2]))
        all_values = torch.cat([self.values, values.float()], dim=1)
        all_ids = torch.cat([self.ids, ids.to(self.ids)], dim=1)
        all_payload = torch.cat([self.payload, payload.to(self.payload)], dim=1)
        # a stable sort, not ``topk``: among equal values the one seen first (kept entries,
        # then this batch in order) wins on every device, so CPU and CUDA runs keep the same
        # images (``topk``'s choice among ties differs between them; saturated units tie a lot)
        values, order = all_values.sort(dim=1, descending=True, stable=True)
        self.values, order = values[:, : self.k], order[:, : self.k]
        self.ids = all_ids.gather(1, order)
        self.payload = all_payload.gather(1, order[:, :, None].expand(-1, -1, all_payload.shape[2]))

    def filled(self) -> torch.Tensor:
        """``[C, k]`` bool: which slots hold a real entry (fewer than k items seen)."""
        return self.ids >= 0


def spatial_max(activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and channel, the strongest response and where it is.

    ``[B, C, H, W] -> values [C, B], positions [C, B, 2]`` (y, x on the feature grid).
    One patch per image and neuron keeps near-duplicate neighbouring patches out of a
    neuron's top-k, as in Rafegas & Vanrell's neuron features.
    """
    b, c, h, w = activations.shape
    values, flat = activations.reshape(b, c, h * w).max(dim=2)
    positions = torch.stack([flat // w, flat % w], dim=2).float()
    return values.T, positions.transpose(0, 1)
