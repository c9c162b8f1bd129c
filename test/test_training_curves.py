"""The training figure reads the trainer's own log.csv format and draws every run and reference level."""

import cv2
import numpy as np
import pytest

from stdnet_ros.training.curves import RUN_COLOURS_BGR, read_validation, save_training_curves
from stdnet_ros.training.trainer import CsvLog


def write_log(path, rmse_by_step):
    log = CsvLog(path, resume_step=0)
    for step, rmse in rmse_by_step.items():
        log.write(step=step, loss=0.01)  # a training row: no validation columns
        log.write(step=step, val_rmse_cm=rmse, val_edge_rmse_cm=3 * rmse)


def test_reads_only_the_validation_rows(tmp_path):
    write_log(tmp_path / "log.csv", {0: 17.4, 100: 16.0, 200: 15.5})
    steps, values = read_validation(tmp_path / "log.csv", "val_rmse_cm")
    assert steps.tolist() == [0, 100, 200]
    np.testing.assert_allclose(values, [17.4, 16.0, 15.5])
    with pytest.raises(ValueError, match="val_nope"):
        read_validation(tmp_path / "log.csv", "val_nope")


def test_figure_draws_each_run_in_its_colour(tmp_path):
    write_log(tmp_path / "a.csv", {0: 17.4, 100: 16.0, 200: 15.5})
    write_log(tmp_path / "b.csv", {0: 17.4, 100: 17.3})
    out = tmp_path / "curves.png"
    figure = save_training_curves(
        out,
        {"a": tmp_path / "a.csv", "b": tmp_path / "b.csv"},
        {"val_rmse_cm": {"bicubic": 18.0, "guided filter": 15.0}},
    )
    assert out.is_file() and cv2.imread(str(out)).shape == figure.shape
    for colour in RUN_COLOURS_BGR[:2]:
        assert (figure == np.array(colour, np.uint8)).all(axis=-1).sum() > 50
    with pytest.raises(ValueError, match="at least one"):
        save_training_curves(out, {})
