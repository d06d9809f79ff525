"""Fusion of an auxiliary model's output vector into the student (seed paper 001, Jung et al.).

The pre-trained auxiliary model (the audio-tagging system of seed paper 001) produces a tag vector — its class
probabilities — for each input. The student uses it in two ways (seed paper 001 Sections 3.2-3.4):
``concat`` concatenates the tag vector with the student's embedding before the classifier; ``attention``
uses the (projected) tag vector as the query of multi-head attention over the student's feature map and
concatenates the attended vector with the embedding; ``both`` does both.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kdtaxonomy.hooks import FeatureTap


class FusionStudent(nn.Module):
    """A student whose classifier also sees the auxiliary model's tag vector."""

    def __init__(
        self,
        base: nn.Module,
        auxiliary: nn.Module,
        *,
        num_classes: int,
        mode: str = "concat",
        heads: int = 4,
        location: str = "block2",
        aux_view_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.base = base
        self.auxiliary = auxiliary.eval().requires_grad_(False)
        self.pretrained_parts = ("auxiliary",)  # from-scratch re-initialises the student, never the tagger
        self.mode = mode
        base_locs: dict[str, str] = dict(getattr(base, "locations", {}))
        if "embedding" not in base_locs or (mode != "concat" and location not in base_locs):
            raise KeyError(
                f"fusion needs the student's 'embedding' and {location!r} locations; it has {sorted(base_locs)}"
            )
        self._tap = {"embedding": base_locs["embedding"]}
        if mode != "concat":
            self._tap["map"] = base_locs[location]
        self.locations = {k: f"base.{v}" for k, v in base_locs.items()}
        self.location = location
        self.heads = heads
        self.tag_dim = aux_view_dim or num_classes
        self.num_classes = num_classes
        self.attention: nn.MultiheadAttention | None = None
        self.query: nn.Linear | None = None
        self.classifier: nn.Linear | None = None

    def build(self, x: Tensor) -> None:
        """Create the fusion layers from the shapes of one batch (call once before training)."""
        feats, tags = self._features(x)
        width = feats["embedding"].flatten(1).shape[1]
        extra = 0
        if self.mode in {"concat", "both"}:
            extra += tags.shape[1]
        if self.mode in {"attention", "both"}:
            channels = feats["map"].shape[1]
            heads = self.heads if channels % self.heads == 0 else 1
            self.attention = nn.MultiheadAttention(channels, heads, batch_first=True).to(x.device)
            self.query = nn.Linear(tags.shape[1], channels).to(x.device)
            extra += channels
        self.classifier = nn.Linear(width + extra, self.num_classes).to(x.device)

    def _features(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        with torch.no_grad():
            tags = torch.softmax(self.auxiliary(x).float(), dim=1)
        with FeatureTap(self.base, self._tap) as tap:
            self.base(x)
        return dict(tap.features), tags

    def forward(self, x: Tensor) -> Tensor:
        if self.classifier is None:
            self.build(x)
        assert self.classifier is not None
        feats, tags = self._features(x)
        parts = [feats["embedding"].flatten(1)]
        if self.mode in {"concat", "both"}:
            parts.append(tags.to(parts[0].dtype))
        if self.mode in {"attention", "both"}:
            assert self.attention is not None and self.query is not None
            fmap = feats["map"].flatten(2).transpose(1, 2)  # (B, positions, C)
            query = self.query(tags.to(fmap.dtype)).unsqueeze(1)  # (B, 1, C)
            attended, _ = self.attention(query, fmap, fmap)
            parts.append(attended.squeeze(1))
        out: Tensor = self.classifier(torch.cat(parts, dim=1))
        return out

    def train(self, mode: bool = True) -> FusionStudent:
        super().train(mode)
        self.auxiliary.eval()
        return self
