"""Bad numbers on the command line: exit status 2 and one line naming the option and the expected value, before
any work starts (never a traceback after minutes, as `bench model --frames 12` once gave)."""

import argparse

import pytest

from stdnet_ros.cli import main
from stdnet_ros.cli.numbers import non_negative_float, positive_int, scale

CASES = [  # (arguments, the message's expected part)
    (["bench", "model", "--frames", "12"], "--frames: expected more than 12 (the warm-up"),
    (["bench", "model", "--frames", "0"], "argument --frames: expected > 0, got 0"),
    (["bench", "model", "--offline-frames", "-3"], "argument --offline-frames: expected > 0"),
    (["bench", "model", "--width", "322"], "--width: expected a multiple of --scale 4, got 322"),
    (["bench", "model", "--scale", "8", "--height", "244"], "--height: expected a multiple of --scale 8, got 244"),
    (["bench", "model", "--scale", "3"], "argument --scale: expected one of 4, 8, 16, got '3'"),
    (["bench", "model", "--frames", "many"], "argument --frames: expected an integer > 0, got 'many'"),
    (["bench", "train", "--patch", "100"], "--patch: expected a multiple of 4 x --scale = 16"),
    (["bench", "train", "--steps", "0"], "argument --steps: expected > 0"),
    (["bench", "train", "--batch", "0"], "argument --batch: expected > 0"),
    (["bench", "latency", "--soak-minutes", "1"], "--soak-minutes: expected 0 or at least 2, got 1"),
    (["bench", "latency", "--soak-minutes", "-1"], "argument --soak-minutes: expected >= 0"),
    (["bench", "latency", "--rates", "5", "0"], "argument --rates: expected > 0, got 0"),
    (["bench", "latency", "--seconds", "nan"], "argument --seconds: expected > 0, got nan"),
    (["bench", "profile", "--steps", "0"], "argument --steps: expected > 0"),
    (["bench", "node", "--frames", "0"], "argument --frames: expected > 0"),
    (["bench", "precision", "--data", "x", "--scale", "2"], "argument --scale: expected one of 4, 8, 16"),
    (["demo", "--rate", "0"], "argument --rate: expected > 0, got 0"),
    (["demo", "--frames", "0"], "argument --frames: expected > 0"),
    (["bag", "play", "x", "--rate", "-1"], "argument --rate: expected > 0, got -1"),
    (["bag", "play", "x", "--wait-for-subscribers", "-2"], "argument --wait-for-subscribers: expected >= 0"),
    (["bag", "sample", "x", "--width", "330"], "--width: expected a multiple of 16, got 330"),
    (["bag", "sample", "x", "--sequence", "-1"], "argument --sequence: expected >= 0"),
    (["bag", "run", "x", "--out", "y", "--scale", "6"], "argument --scale: expected one of 4, 8, 16"),
    (["generate", "x", "--scales", "2"], "argument --scales: expected scales of 4, 8, 16, got '2'"),
    (["generate", "x", "--frames", "0"], "argument --frames: expected > 0"),
    (["generate", "x", "--height", "50"], "--height: expected a multiple of 16, got 50"),
    (["export", "--out", "x.onnx", "--width", "641"], "--width: expected a multiple of --scale 4, got 641"),
    (["eval", "--data", "x", "--out", "y", "--scale", "5"], "argument --scale: expected one of 4, 8, 16"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_number_exits_2_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()[-1]) < 200


@pytest.mark.parametrize(
    "parse, text, value",
    [(positive_int, "3", 3), (non_negative_float, "0", 0.0), (non_negative_float, "2.5", 2.5), (scale, "16", 16)],
)
def test_valid_numbers_parse(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    "parse, text",
    [
        (positive_int, "1.5"),
        (positive_int, "0"),
        (non_negative_float, "-0.1"),
        (non_negative_float, "nan"),
        (scale, "2"),
        (scale, "x"),
    ],
)
def test_invalid_numbers_raise(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)
