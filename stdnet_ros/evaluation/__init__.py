"""Evaluation (ROS-free): metrics, classical baselines, the runner that scores methods on sequences, figures."""
