"""The chance level of a validation split, by which :func:`kdtaxonomy.train.fit` tells a diverged model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Chance:
    """The chance level of a validation split: the accuracy (%) of always predicting its majority class."""

    accuracy: float
    n: int

    @classmethod
    def of(cls, labels: Tensor) -> Chance:
        """Chance level of the integer class ``labels``."""
        n = int(labels.numel())
        top = int(torch.bincount(labels.reshape(-1).long()).max()) if n else 0
        return cls(100.0 * top / max(n, 1), n)

    def bound(self) -> float:
        """Chance plus two binomial standard errors (%): below it, an accuracy is not better than chance."""
        p = self.accuracy / 100.0
        return 100.0 * (p + 2.0 * math.sqrt(p * (1.0 - p) / max(self.n, 1)))

    def diverged(self, accuracy: float, first_loss: float, last_loss: float) -> bool:
        """At chance (``accuracy <= bound()``) with a last-epoch loss not below the first step's (the
        untrained model's): a model that learned nothing, not one cut short by a small budget."""
        return accuracy <= self.bound() and not last_loss < first_loss

    def describe(self) -> str:
        return f"majority class {self.accuracy:.1f}% of {self.n} rows, bound {self.bound():.1f}%"
