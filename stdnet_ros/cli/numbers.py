"""Argument types and cross-argument checks of the ``stdnet`` commands: bad numbers fail at parse time with the
option's name and the expected value, never as a traceback after minutes of work."""

import argparse
from collections.abc import Callable

from ..model.config import SCALES

RENDER_MULTIPLE = max(SCALES)  # rendered sizes: the LR grid of every scale fits exactly


def _number(kind: type, minimum: float, inclusive: bool) -> Callable[[str], float]:
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} {bound}, got {text!r}"
            ) from None
        if not (value >= minimum if inclusive else value > minimum) or value != value:
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text}")
        return value

    parse.__name__ = f"{kind.__name__} {bound}"  # argparse names the type in its message
    return parse


positive_int = _number(int, 0, inclusive=False)
non_negative_int = _number(int, 0, inclusive=True)
positive_float = _number(float, 0, inclusive=False)
non_negative_float = _number(float, 0, inclusive=True)


def scale(text: str) -> int:
    """A super-resolution factor of SCALES."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in SCALES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(map(str, SCALES))}, got {text!r}")
    return value


def check_size(args: argparse.Namespace) -> None:
    """--width and --height: multiples of --scale (the LR input is width / scale x height / scale)."""
    for name in ("width", "height"):
        value = getattr(args, name)
        if value % args.scale:
            raise argparse.ArgumentTypeError(f"--{name}: expected a multiple of --scale {args.scale}, got {value}")


def check_render_size(args: argparse.Namespace) -> None:
    """--width and --height of rendered data: multiples of RENDER_MULTIPLE (every scale's LR grid fits)."""
    for name in ("width", "height"):
        value = getattr(args, name)
        if value % RENDER_MULTIPLE:
            raise argparse.ArgumentTypeError(f"--{name}: expected a multiple of {RENDER_MULTIPLE}, got {value}")


def check_more(args: argparse.Namespace, name: str, minimum: int, why: str) -> None:
    """--NAME must exceed ``minimum`` (``why`` says what the frames before it are for)."""
    value = getattr(args, name.replace("-", "_"))
    if value <= minimum:
        raise argparse.ArgumentTypeError(f"--{name}: expected more than {minimum} ({why}), got {value}")
