"""Nearest-neighbour resizing of a mask that computes only a window of the output: the pixels a crop keeps.

`nearest_exact_window(mask, out_size, rows, cols)` equals ``F.resize(mask, out_size, NEAREST_EXACT)[rows,
cols]`` exactly: it computes each source index as PyTorch's kernel does, ``floor((i + 0.5) * in / out)`` with
a float32 scale, and gathers only the window's rows and columns.

Images get no such shortcut: for upsampled VOC images a float bilinear window (two gathers and two lerps) was
1.8-5x slower than PyTorch's SIMD uint8 resize of the whole image, which the crop then slices.
"""

from __future__ import annotations

import torch


def nearest_exact_indices(in_size: int, out_size: int, window: range) -> torch.Tensor:
    """Source indices (int64) of the output positions in ``window`` under NEAREST_EXACT resizing."""
    scale = torch.tensor(in_size, dtype=torch.float32) / out_size  # float32, like PyTorch's kernel
    positions = (torch.arange(window.start, window.stop, dtype=torch.float64) + 0.5) * scale.double()
    return positions.float().floor().long().clamp_(max=in_size - 1)


def nearest_exact_window(mask: torch.Tensor, out_size: tuple[int, int], rows: range, cols: range) -> torch.Tensor:
    """The ``rows`` x ``cols`` window of ``mask`` [..., H, W] resized to ``out_size`` with NEAREST_EXACT."""
    row_index = nearest_exact_indices(mask.shape[-2], out_size[0], rows)
    col_index = nearest_exact_indices(mask.shape[-1], out_size[1], cols)
    return mask.index_select(-2, row_index).index_select(-1, col_index)
