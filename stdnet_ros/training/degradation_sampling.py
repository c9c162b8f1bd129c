"""The LR degradation of each training clip, drawn from a distribution around the default simulated sensor.

Real sensors differ from any one simulation, so every clip gets its own :class:`~stdnet_ros.depth.degradation.Degradation`:

* with probability ``p_default``: exactly the default (DVSR dToF peak, 100 m range, 1024 bins, no noise), the
  sensor the evaluation simulates, so the nominal case is always well covered;
* otherwise the LR family is ``dtof`` with probability 1 - ``p_other_family``, else one of ``other_families``
  (area, nearest, bicubic: how other depth-SR work and other sensors make LR), chosen uniformly;
* dtof range: log-uniform in ``range_m`` (geometric centre 100 m = the default); bins: one of ``bins`` with
  ``bins_probs``. Together the bin width spans about 2.4 cm to 39 cm around the default's 9.8 cm;
* dtof photon (shot) noise, with probability ``p_photons``: expected photons log-uniform in ``photons``
  (fewer photons: noisier peaks and dropouts on far or dark surfaces, see degradation.py);
* multiplicative Gaussian noise, with probability ``p_noise``: sigma uniform in ``noise`` (fraction of depth,
  the JIIF / Riegler benchmarks use 0.04 on disparity-like maps; data_baselines.md recommends up to 0.02);
* dropout (random invalid LR pixels), with probability ``p_dropout``: rate uniform in ``dropout``.

Every draw comes from the numpy Generator it is given, so a clip's degradation is a pure function of its seed.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..depth.degradation import KINDS, Degradation


@dataclass(frozen=True)
class DegradationDistribution:
    """Parameters of the per-clip degradation distribution (see the module docstring)."""

    p_default: float = 0.2
    p_other_family: float = 0.2
    other_families: tuple[str, ...] = ("area", "nearest", "bicubic")
    range_m: tuple[float, float] = (50.0, 200.0)
    bins: tuple[int, ...] = (512, 1024, 2048)
    bins_probs: tuple[float, ...] = (0.25, 0.5, 0.25)
    p_photons: float = 0.3
    photons: tuple[float, float] = (20.0, 2000.0)
    p_noise: float = 0.5
    noise: tuple[float, float] = (0.0, 0.02)
    p_dropout: float = 0.5
    dropout: tuple[float, float] = (0.0, 0.05)

    def __post_init__(self):
        for name in ("p_default", "p_other_family", "p_photons", "p_noise", "p_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"degradation.{name}: a probability in [0, 1], got {getattr(self, name)}")
        for name in ("range_m", "photons", "noise", "dropout"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi:
                raise ValueError(f"degradation.{name}: expected [low, high] with 0 <= low <= high, got {[lo, hi]}")
        if self.range_m[0] <= 0 or self.photons[0] <= 0 or self.dropout[1] > 1:
            raise ValueError("degradation: range_m and photons must be > 0 and dropout <= 1")
        unknown = [k for k in self.other_families if k not in KINDS or k == "dtof"]
        if unknown or not self.other_families:
            raise ValueError(f"degradation.other_families: non-empty, from {[k for k in KINDS if k != 'dtof']}, "
                             f"got {list(self.other_families)}")
        if len(self.bins) != len(self.bins_probs) or not math.isclose(sum(self.bins_probs), 1.0):
            raise ValueError(f"degradation.bins_probs: one probability per bins entry, summing to 1, "
                             f"got {list(self.bins)} and {list(self.bins_probs)}")

    def sample(self, rng: np.random.Generator) -> Degradation:
        """One degradation; the draws come from ``rng`` in a fixed order."""
        if rng.uniform() < self.p_default:
            return Degradation()
        if rng.uniform() < self.p_other_family:
            kind = self.other_families[rng.integers(len(self.other_families))]
        else:
            kind = "dtof"
        params = {}
        if kind == "dtof":
            params["range_m"] = float(np.exp(rng.uniform(*np.log(self.range_m))))
            params["bins"] = int(self.bins[rng.choice(len(self.bins), p=self.bins_probs)])
            if rng.uniform() < self.p_photons:
                params["photons"] = float(np.exp(rng.uniform(*np.log(self.photons))))
        if rng.uniform() < self.p_noise:
            params["noise"] = float(rng.uniform(*self.noise))
        if rng.uniform() < self.p_dropout:
            params["dropout"] = float(rng.uniform(*self.dropout))
        return Degradation(kind=kind, **params)
