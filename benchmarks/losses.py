"""Forward+backward time and peak allocated memory of every registered loss at B = 64, 256, 1024.

Inputs per loss kind (from the registry's ``inputs``): logits (B, 100), feature maps (B, 64, 16) and
embeddings (B, 128). Memory is the total tensor memory allocated by one forward+backward (sum over ops,
from torch.profiler): an upper bound of the peak.

Usage: python benchmarks/losses.py [--batches 64 256 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from kdtaxonomy.registry import load_components

SHAPES = {"logits": (100,), "features": (64, 16), "embeddings": (128,)}


def make_inputs(kind: str, batch: int, needs: tuple[str, ...]) -> tuple[torch.Tensor, Any, dict[str, Any]]:
    g = torch.Generator().manual_seed(batch)
    shape = SHAPES[kind]
    s = torch.randn(batch, *shape, generator=g, requires_grad=True)
    t = torch.randn(batch, *shape, generator=g)
    kwargs: dict[str, Any] = {}
    if "targets" in needs:
        kwargs["targets"] = torch.randint(0, shape[0], (batch,), generator=g)
    if "indices" in needs:
        kwargs["indices"] = torch.randperm(4 * batch, generator=g)[:batch]
    return s, t, kwargs


def allocated_bytes(fn: Any) -> int:
    """Total tensor memory allocated by one call (sum of every op's own allocations): an upper bound of
    the peak, read from torch.profiler."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(
        f"{'loss':28} {'inputs':10} "
        + " ".join(f"{'B=' + str(b) + ' ms':>11} {'alloc MiB':>9}" for b in args.batches)
    )
    for component in load_components().list("loss"):
        kind = str(component.extra.get("inputs", "features"))
        needs = tuple(component.extra.get("needs", ()))
        cells = []
        for batch in args.batches:
            s, t, kwargs = make_inputs(kind, batch, needs)
            shape = tuple(s.shape[1:])
            module = component.obj(s_shape=shape, t_shape=shape, num_samples=4 * batch, num_classes=shape[0])

            def step(
                s: torch.Tensor = s, t: Any = t, module: Any = module, kwargs: dict[str, Any] = kwargs
            ) -> None:
                s.grad = None
                module.zero_grad(set_to_none=True)
                module(s, t, **kwargs).backward()

            step()
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            cells.append(f"{statistics.median(times) * 1000:11.2f} {allocated_bytes(step) / 2**20:9.1f}")
        print(f"{component.key:28} {kind:10} " + " ".join(cells))


if __name__ == "__main__":
    main()
