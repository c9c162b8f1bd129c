"""``stdnet train``: train STDNet from a YAML config (configs/train/), one process or many under torchrun.

    stdnet train --config configs/train/stdnet-lite-x4-causal.yaml [--max-minutes 50] [--weights-out shipped]
    torchrun --nproc_per_node 8 -m stdnet_ros.cli train --config ...   (DistributedDataParallel, same command)

A run whose output folder already holds last.safetensors resumes from it, exactly; --max-iters / --max-minutes
stop early (with a checkpoint) so a long run can be done in chunks. The final weights are written when the
configured iterations are done (rerun a finished run to write them again, e.g. with --weights-out shipped).
"""

import argparse
import json
import sys

from ..data import DatasetError
from ..model import WeightsError
from ..training.checkpoint import CheckpointError
from ..training.config import SOURCES, ConfigError, load_config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train STDNet from a YAML config (resumable; torchrun for multi-GPU)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--config", help="YAML file (configs/train/*.yaml); without it every default applies")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config key, e.g. --set optim.batch_size=4 (repeatable; value read as YAML)",
    )
    p.add_argument("--preset", help="model.preset (stdnet, stdnet-lite)")
    p.add_argument("--scale", type=int, help="model.scale (4, 8, 16)")
    p.add_argument("--directions", help="model.directions (causal, bidirectional)")
    p.add_argument("--source", choices=SOURCES, help="data.source")
    p.add_argument("--data", nargs="+", metavar="ROOT", help="data.roots: dataset folders (folders / tartanair)")
    p.add_argument("--out", help="run.out_dir: checkpoints, log.csv; an existing run there is resumed")
    p.add_argument("--weights-out", help="run.weights: final weights path, or 'shipped' for the shipped path")
    p.add_argument("--max-iters", type=int, help="stop after this many more iterations (checkpoint kept)")
    p.add_argument("--max-minutes", type=float, help="stop after this much wall time (checkpoint kept)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> list[str]:
    """The dedicated flags as section.key=value overrides (JSON is YAML), after the --set ones (flags win)."""
    flags = {
        "model.preset": args.preset,
        "model.scale": args.scale,
        "model.directions": args.directions,
        "data.source": args.source,
        "data.roots": args.data,
        "run.out_dir": args.out,
        "run.weights": args.weights_out,
    }
    return list(args.overrides) + [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]


def run(args: argparse.Namespace) -> int:
    from ..training.distributed import setup
    from ..training.trainer import Trainer, TrainingDiverged

    try:
        config = load_config(args.config, overrides(args))
        if args.max_iters is not None and args.max_iters < 1:
            raise ConfigError(f"--max-iters: must be >= 1, got {args.max_iters}")
        dist = setup(args.device)
        try:
            done = Trainer(config, dist).run(args.max_iters, args.max_minutes)
        finally:
            dist.close()
    except (ConfigError, DatasetError, CheckpointError, WeightsError) as err:
        print(f"stdnet train: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"stdnet train: diverged: {err}", file=sys.stderr)
        return 3
    if not done:
        print("stdnet train: stopped early; run the same command again to continue", file=sys.stderr)
    return 0
