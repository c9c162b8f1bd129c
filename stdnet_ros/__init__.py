"""stdnet_ros: STDNet video depth super-resolution (RGB + low-resolution ToF depth -> HR depth) for ROS 2.

The ROS-free core (depth, messages, data, model, streaming, pipeline, evaluation, training, cli) never imports
rclpy or cv_bridge; the node lives in ``stdnet_ros.ros``, the bag tools in ``stdnet_ros.bags`` (README "Code map").
"""
