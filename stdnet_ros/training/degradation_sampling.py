"""The LR degradation of each training clip, drawn from a distribution around the named sensors.

Real sensors differ from any one simulation, so every clip gets its own
:class:`~stdnet_ros.depth.degradation.Degradation`:

* with probability ``p_sensor``: exactly one of the named sensors (degradation.SENSORS: the indoor robot sensor
  and the paper's dvsr protocol), chosen uniformly, so the cases the evaluation reports are always well covered;
* otherwise the LR family is ``dtof`` with probability 1 - ``p_other_family``, else one of ``other_families``
  (area, nearest, bicubic: how other depth-SR work and other sensors make LR), chosen uniformly;
* dtof range: log-uniform in ``range_m``; bin width log-uniform in ``bin_width_m`` (about 5 mm, a fine robot
  sensor, to 10 cm, the dvsr protocol's 9.8 cm); bins = round(range / width) + 1;
* dtof photon (shot) noise, with probability ``p_photons``: expected photons log-uniform in ``photons``
  (fewer photons: noisier peaks and dropouts on far or dark surfaces, see degradation.py);
* multiplicative Gaussian noise, with probability ``p_noise``: sigma uniform in ``noise`` (fraction of depth,
  the JIIF / Riegler benchmarks use 0.04 on disparity-like maps; data_baselines.md recommends up to 0.02);
* dropout (random invalid LR pixels), with probability ``p_dropout``: rate uniform in ``dropout``.

Every draw comes from the numpy Generator it is given, so a clip's degradation is a pure function of its seed.
"""

from dataclasses import dataclass

import numpy as np

from ..depth.degradation import KINDS, SENSORS, Degradation


@dataclass(frozen=True)
class DegradationDistribution:
    """Parameters of the per-clip degradation distribution (see the module docstring)."""

    p_sensor: float = 0.2
    p_other_family: float = 0.2
    other_families: tuple[str, ...] = ("area", "nearest", "bicubic")
    range_m: tuple[float, float] = (15.0, 150.0)
    bin_width_m: tuple[float, float] = (0.005, 0.1)
    p_photons: float = 0.5
    photons: tuple[float, float] = (20.0, 2000.0)
    p_noise: float = 0.5
    noise: tuple[float, float] = (0.0, 0.02)
    p_dropout: float = 0.5
    dropout: tuple[float, float] = (0.0, 0.05)

    def __post_init__(self):
        for name in ("p_sensor", "p_other_family", "p_photons", "p_noise", "p_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"degradation.{name}: a probability in [0, 1], got {getattr(self, name)}")
        for name in ("range_m", "bin_width_m", "photons", "noise", "dropout"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi:
                raise ValueError(f"degradation.{name}: expected [low, high] with 0 <= low <= high, got {[lo, hi]}")
        if self.range_m[0] <= 0 or self.bin_width_m[0] <= 0 or self.photons[0] <= 0 or self.dropout[1] > 1:
            raise ValueError("degradation: range_m, bin_width_m and photons must be > 0 and dropout <= 1")
        if self.bin_width_m[1] > self.range_m[0]:
            raise ValueError(
                f"degradation.bin_width_m: at most the shortest range {self.range_m[0]} m, got {list(self.bin_width_m)}"
            )
        unknown = [k for k in self.other_families if k not in KINDS or k == "dtof"]
        if unknown or not self.other_families:
            raise ValueError(
                f"degradation.other_families: non-empty, from {[k for k in KINDS if k != 'dtof']}, "
                f"got {list(self.other_families)}"
            )

    def sample(self, rng: np.random.Generator) -> Degradation:
        """One degradation; the draws come from ``rng`` in a fixed order."""
        if rng.uniform() < self.p_sensor:
            return list(SENSORS.values())[rng.integers(len(SENSORS))]
        if rng.uniform() < self.p_other_family:
            kind = self.other_families[rng.integers(len(self.other_families))]
        else:
            kind = "dtof"
        params = {}
        if kind == "dtof":
            params["range_m"] = float(np.exp(rng.uniform(*np.log(self.range_m))))
            width_m = float(np.exp(rng.uniform(*np.log(self.bin_width_m))))
            params["bins"] = round(params["range_m"] / width_m) + 1
            if rng.uniform() < self.p_photons:
                params["photons"] = float(np.exp(rng.uniform(*np.log(self.photons))))
        if rng.uniform() < self.p_noise:
            params["noise"] = float(rng.uniform(*self.noise))
        if rng.uniform() < self.p_dropout:
            params["dropout"] = float(rng.uniform(*self.dropout))
        return Degradation(kind=kind, **params)
