"""Training STDNet: clips and degradations (clips.py, degradation_sampling.py), the YAML config (config.py),
safetensors checkpoints (checkpoint.py), one or many processes (distributed.py), validation and the loop
(validation.py, trainer.py). The ``stdnet train`` command is stdnet_ros/cli/train.py."""
