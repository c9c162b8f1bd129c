"""Training checkpoints as safetensors (never pickle): model, loss and Adam state tensors plus JSON metadata.

Tensor names: ``model/<name>``, ``loss/<name>`` (the loss's difference projections are trained too) and
``optim/<param index>/<state key>``. Metadata (all strings): format, preset, model_config (JSON), step,
optimizer (JSON: param_groups and any non-tensor state) and run (JSON: e.g. the best validation so far).
No random-number state is stored: every training sample is a pure function of (seed, sample index) and the
learning rate a pure function of the step, so the step alone puts a resumed run back on the same path.
"""

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..model import STDNet, STDNetConfig, save_weights
from ..model.weights import checked_metadata

FORMAT = "stdnet_ros/checkpoint/v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_checkpoint(
    path: str | Path, model: STDNet, loss: nn.Module, optimizer: torch.optim.Optimizer, step: int, run_state: dict
) -> None:
    """Write the checkpoint atomically (a temporary file renamed over ``path``)."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"loss/{k}": v for k, v in loss.state_dict().items()})
    opt = optimizer.state_dict()
    other_state = {}
    for index, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim/{index}/{key}"] = value
            else:
                other_state.setdefault(str(index), {})[key] = value
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {
        "format": FORMAT,
        "preset": model.preset,
        "model_config": json.dumps(model.config.to_dict()),
        "step": str(step),
        "optimizer": json.dumps({"param_groups": opt["param_groups"], "state": other_state}),
        "run": json.dumps(run_state),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata, checked to be this format."""
    return checked_metadata(path, FORMAT, "checkpoint", CheckpointError)


def load_checkpoint(
    path: str | Path, model: STDNet, loss: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, dict]:
    """Restore model, loss and optimizer in place; returns (step, run_state). The model config must match."""
    metadata = read_metadata(path)
    stored = STDNetConfig.from_dict(json.loads(metadata["model_config"]))
    if stored != model.config:
        raise CheckpointError(f"checkpoint {path}: model config {stored} differs from the configured {model.config}")
    optim_meta = json.loads(metadata["optimizer"])
    tensors = {"model/": {}, "loss/": {}, "optim/": {}}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            prefix = key[: key.index("/") + 1]
            tensors[prefix][key[len(prefix) :]] = f.get_tensor(key)
    try:
        model.load_state_dict(tensors["model/"])
        loss.load_state_dict(tensors["loss/"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path}: tensors do not match the model ({err})") from err
    state = {int(i): dict(s) for i, s in optim_meta["state"].items()}
    for name, tensor in tensors["optim/"].items():
        index, key = name.split("/", 1)
        state.setdefault(int(index), {})[key] = tensor
    # JSON turned tuple hyper-parameters (Adam's betas) into lists; "params" is the one list of a group.
    groups_meta = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
        for g in optim_meta["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups_meta})
    return int(metadata["step"]), json.loads(metadata["run"])


def export_weights(checkpoint: str | Path, out_path: str | Path) -> None:
    """Write the checkpoint's model (only) as shipped weights via :func:`save_weights`."""
    metadata = read_metadata(checkpoint)
    model = STDNet(STDNetConfig.from_dict(json.loads(metadata["model_config"])), preset=metadata["preset"])
    with safe_open(str(checkpoint), framework="pt") as f:
        model.load_state_dict({k[len("model/") :]: f.get_tensor(k) for k in f.keys() if k.startswith("model/")})
    save_weights(model, out_path)
