"""Concept directions applied to activations, in torch on the model's device: the sampled
vectors a factorisation is fit on, the non-negative coefficients of an activation for fixed
directions, and an activation with one concept removed (used by the audit and cues passes;
the factorisation and the statistics are in :mod:`auditor.metrics.concepts`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["fit_vectors", "project", "remove_concept"]


def fit_vectors(acts: torch.Tensor, seeds: Sequence[int], *, top: int = 4, rand: int = 4
                ) -> torch.Tensor:
    """The activation vectors of a few images that the factorisation is fit on.

    Per image its ``top`` strongest positions (largest norm: where something is seen, however
    small) and ``rand`` other positions drawn with the image's own seed (the rest of the scene),
    so a cue that covers a few positions of an image is not drowned by the background.

    Args:
        acts: ``[B, C, h, w]`` activations (clipped at 0).
        seeds: one int per image (e.g. its row), for the random positions.

    Returns:
        ``[B * (top + rand), C]`` (fewer when the grid has fewer positions).
    """
    a = acts.detach().float().clamp(min=0).flatten(2)  # [B, C, P]
    p = a.shape[2]
    out = []
    for i, seed in enumerate(seeds):
        order = torch.argsort(a[i].norm(dim=0), descending=True, stable=True)
        strong = order[:min(top, p)]
        rest = order[min(top, p):]
        if len(rest) and rand:
            g = torch.Generator().manual_seed(int(seed))
            pick = torch.randperm(len(rest), generator=g)[:rand].to(rest.device)
            strong = torch.cat([strong, rest[pick]])
        out.append(a[i][:, strong].T)
    return torch.cat(out) if out else a.new_zeros((0, a.shape[1]))



def project(acts: torch.Tensor, basis: torch.Tensor, *, iters: int = 60) -> torch.Tensor:
    """Non-negative coefficients of activations on fixed concept directions.

    Args:
        acts: ``[B, C, h, w]`` activations (negative values are clipped to 0).
        basis: ``[n, C]`` concept directions (:func:`fit_concepts`).
        iters: multiplicative-update iterations (Lee & Seung, ``H`` fixed).

    Returns:
        ``U`` ``[B, n, h, w]`` >= 0 such that ``A ~ sum_k U_k H_k`` at every position.
    """
    b, c, h, w = acts.shape
    a = acts.detach().float().clamp(min=0).permute(0, 2, 3, 1).reshape(-1, c)  # [P, C]
    hb = basis.to(a.device, torch.float32)
    gram = hb @ hb.T  # [n, n]
    num = a @ hb.T  # [P, n]
    u = num.clamp(min=0) / gram.diagonal().clamp(min=1e-12)
    for _ in range(iters):
        u = u * num / (u @ gram).clamp(min=1e-12)
    return u.reshape(b, h, w, -1).permute(0, 3, 1, 2)



def remove_concept(acts: torch.Tensor, coeffs: torch.Tensor, basis: torch.Tensor, k: int
                   ) -> torch.Tensor:
    """``acts`` without concept ``k``: ``A - U_k H_k``, floored at 0 where ``A`` was >= 0.

    Args:
        acts: ``[B, C, h, w]``; coeffs: ``[B, n, h, w]`` (:func:`project`); basis: ``[n, C]``.
    """
    part = coeffs[:, k:k + 1].to(acts.dtype) * basis[k].to(acts)[None, :, None, None]
    out = acts - part
    return torch.where(acts >= 0, out.clamp(min=0), out)
