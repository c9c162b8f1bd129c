"""Depth primitives the rest of the core stands on (ROS-free, numpy / torch only): invalid-depth rules, camera
geometry (OpenCV pixel-centre convention), the LR ToF degradation and organized point-cloud arrays."""
