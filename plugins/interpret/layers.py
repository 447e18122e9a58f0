"""Which units an image encoder has, and how to read their activations.

For CNN encoders (open_clip ``ModifiedResNet``, torchvision ResNets) the units are
the channels of the stem and of ``layer1`` .. ``layer4``; for ViT encoders they are
the MLP hidden neurons of each residual block (``block0`` ..), read per patch token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from colorbench.errors import ColorbenchError, suggest

RESNET_LAYERS = ("stem", "layer1", "layer2", "layer3", "layer4")


def _blocks(encoder: nn.Module) -> Sequence[nn.Module] | None:
    transformer = getattr(encoder, "transformer", None)
    return getattr(transformer, "resblocks", None)


def default_layers(encoder: nn.Module) -> list[str]:
    """The paper's blocks for a ResNet; every block's MLP for a ViT."""
    blocks = _blocks(encoder)
    if blocks is not None:
        return [f"block{i}" for i in range(len(blocks))]
    return list(RESNET_LAYERS)


def resolve_layer(encoder: nn.Module, name: str) -> nn.Module:
    """The module whose output holds the units of layer ``name``.

    ``stem`` is the end of the ResNet stem (its pool); ``blockN`` the MLP activation
    of ViT block N; anything else a dotted submodule path (``layer3.2.conv2``).
    """
    if name == "stem":
        for attr in ("avgpool", "maxpool"):  # open_clip ModifiedResNet / torchvision ResNet
            if isinstance(getattr(encoder, attr, None), nn.Module):
                return getattr(encoder, attr)
    blocks = _blocks(encoder)
    if blocks is not None and name.startswith("block") and name[5:].isdigit():
        index = int(name[5:])
        if index < len(blocks):
            mlp = blocks[index].mlp
            return getattr(mlp, "gelu", None) or mlp[1]
    modules = dict(encoder.named_modules())
    if name in modules and name:
        return modules[name]
    choices = list(
        dict.fromkeys(default_layers(encoder) + [n for n, _ in encoder.named_children()])
    )
    raise ColorbenchError(
        f"unknown layer {name!r}{suggest(name, choices)}; "
        f"use one of {', '.join(default_layers(encoder))} or a submodule path"
    )


def to_grid(output: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Activations as ``[B, C, H, W]``: conv maps as they are, ViT tokens without CLS."""
    if output.dim() == 4:
        return output
    if output.dim() == 3 and grid is not None:
        b, t, c = output.shape
        h, w = grid
        tokens = output[:, t - h * w :]  # drop the class (and any register) tokens
        return tokens.transpose(1, 2).reshape(b, c, h, w)
    raise ValueError(f"cannot read units from an output of shape {tuple(output.shape)}")


class _Complete(Exception):
    """Raised by the last hook to skip the rest of the forward pass."""


@contextmanager
def recording(
    layers: dict[str, nn.Module], grid: tuple[int, int] | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that keep the last batch's ``[B, C, H, W]`` activations of each layer.

    Only the current batch is held: the caller reduces it before the next forward.
    Once every layer has reported, the forward pass is cut short (nothing after the
    deepest analysed layer is needed), and the ``with`` block ends there.
    """
    store: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def keep(_module, _inputs, output):
            # a copy: later in-place ops (ReLU, residual adds) must not change it
            store[name] = to_grid(output.detach(), grid).to(torch.float32, copy=True)
            if len(store) == len(layers):
                raise _Complete

        return keep

    handles = [module.register_forward_hook(hook(name)) for name, module in layers.items()]
    try:
        yield store
    except _Complete:
        pass
    finally:
        for handle in handles:
            handle.remove()


def token_grid(encoder: nn.Module) -> tuple[int, int] | None:
    """The patch grid of a ViT encoder (open_clip ``grid_size``), None for CNNs."""
    grid = getattr(encoder, "grid_size", None)
    return tuple(grid) if grid is not None else None
