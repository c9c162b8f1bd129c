"""ROS message fields <-> arrays (ROS-free): sensor_msgs/Image, CameraInfo and PointCloud2 fields, used by the node
(rclpy message classes) and the bag tools (the same classes, read from bags). Nothing here imports rclpy."""
