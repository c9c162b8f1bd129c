"""ament_python package: the stdnet_ros Python package, its config, launch files and shipped weights."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "stdnet_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["weights/*.safetensors", "weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    python_requires=">=3.11",
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="stdnet_ros maintainers",
    maintainer_email="stdnet-ros@example.com",
    description="STDNet video depth super-resolution (RGB + low-res ToF -> high-res depth) for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "stdnet = stdnet_ros.cli:main",
            "stdnet_node = stdnet_ros.ros.node:main",
        ],
    },
)
