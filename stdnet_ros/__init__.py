"""stdnet_ros: STDNet video depth super-resolution (RGB + low-resolution ToF depth -> HR depth) for ROS 2.

The ROS-free core (model, streaming, geometry, data, metrics) never imports rclpy or cv_bridge;
the ROS layer lives in ``stdnet_ros.ros``.
"""
