"""STDNet configuration: one frozen dataclass, the direction patterns and the named presets."""

from dataclasses import asdict, dataclass, fields, replace

from .residual_base import BASES

# Pass order per stage. "bidirectional" is the official model (BasicVSR++ naming: backward_1, forward_1,
# backward_2, forward_2); "causal" makes every pass read only the current and past frames; "single-frame" has no
# pass at all, each frame is reconstructed alone (the separately trained temporal ablation, never shipped).
DIRECTION_PATTERNS = {
    "bidirectional": ("backward", "forward", "backward", "forward"),
    "causal": ("forward", "forward", "forward", "forward"),
    "single-frame": (),
}
SCALES = (4, 8, 16)
# How a TDM finds the neighbour's features: "learned" offsets from the temporal difference alone (the official
# model), or "flow-guided" offsets, a learned residual over the RGB's optical flow (flow_guidance.py).
ALIGNMENTS = ("learned", "flow-guided")
# A pass reads neighbours at distance 1 and 2, so a backward pass reaches 2 frames into the future.
NEIGHBOUR_OFFSETS = (1, 2)


@dataclass(frozen=True)
class STDNetConfig:
    """Architecture of one STDNet model (model_spec.md §1); depth units: normalisation.py."""

    scale: int = 4  # LR -> HR factor; the network itself always works at HR/4
    channels: int = 64
    stages: int = 2  # 2: the official hourglass with confidence fusion; 1: a single stage
    directions: str = "bidirectional"  # a key of DIRECTION_PATTERNS
    encoder_blocks: tuple[int, int] = (1, 2)  # residual blocks after the 1st and 2nd (strided) encoder conv
    extract_blocks: int = 5  # residual blocks of the post-SDM feature extractor
    recon_blocks: int = 5  # residual blocks of the reconstruction trunk
    tdm_rcabs: int = 2  # RCABs in each TDM fusion group
    sdm_rcabs: int = 1  # RCABs in the SDM kernel generator and fusion groups
    reduction: int = 16  # channel-attention reduction
    residual_base: str = "bilinear"  # a key of residual_base.BASES: what the output is a residual over
    alignment: str = "learned"  # one of ALIGNMENTS

    def __post_init__(self):
        object.__setattr__(self, "encoder_blocks", tuple(int(b) for b in self.encoder_blocks))
        checks = [
            (self.scale in SCALES, f"scale must be one of {SCALES}, got {self.scale}"),
            (
                self.directions in DIRECTION_PATTERNS,
                f"directions must be one of {sorted(DIRECTION_PATTERNS)}, got {self.directions!r}",
            ),
            (self.stages in (1, 2), f"stages must be 1 or 2, got {self.stages}"),
            (
                self.channels > 0 and self.channels % self.reduction == 0,
                f"channels must be a positive multiple of reduction={self.reduction}, got {self.channels}",
            ),
            (len(self.encoder_blocks) == 2, f"encoder_blocks must have 2 entries, got {self.encoder_blocks}"),
            (self.residual_base in BASES, f"residual_base must be one of {BASES}, got {self.residual_base!r}"),
            (self.alignment in ALIGNMENTS, f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"STDNetConfig: {message}")

    @property
    def passes(self) -> tuple[str, ...]:
        """Direction of each propagation pass, in order."""
        return DIRECTION_PATTERNS[self.directions]

    @property
    def flow_guided(self) -> bool:
        """Whether the passes need the RGB's optical flow (a model without passes never does)."""
        return self.alignment == "flow-guided" and bool(self.passes)

    @property
    def future_frames(self) -> int:
        """Frames of the future that one output depends on (0 for a causal model, 8 for the official one)."""
        per_stage = sum(max(NEIGHBOUR_OFFSETS) for d in self.passes if d == "backward")
        return per_stage * self.stages

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "STDNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"STDNetConfig: unknown fields {unknown}")
        return cls(**d)


PRESETS = {
    # The official size: 19.92 M parameters, about 1.45 TFLOP per 640x480 frame.
    "stdnet": STDNetConfig(),
    # Real-time size (see README / bench): 1 stage, 32 channels, 1 RCAB per TDM; about a tenth of the compute.
    "stdnet-lite": STDNetConfig(channels=32, stages=1, extract_blocks=3, recon_blocks=3, tdm_rcabs=1),
}


def preset_config(preset: str, **overrides) -> STDNetConfig:
    """The preset's config with field overrides (e.g. scale=8, directions="causal")."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    unknown = sorted(set(overrides) - {f.name for f in fields(STDNetConfig)})
    if unknown:
        raise ValueError(f"unknown STDNetConfig fields {unknown}")
    return replace(PRESETS[preset], **overrides)
