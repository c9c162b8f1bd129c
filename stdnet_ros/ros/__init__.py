"""ROS 2 layer of stdnet_ros: the node and what needs rclpy (parameters, diagnostics, input sync, QoS).

Also locates the ``stdnet_ros_interfaces`` message package that ``make msgs`` (tools/build_msgs.sh) builds
into ``build_msgs/install`` when it is not installed the ROS way (a sourced colcon workspace):

* :func:`interfaces_env` gives the environment variables a child process needs (what ``source
  build_msgs/install/setup.bash`` would set);
* :func:`load_interfaces` makes it importable in the current process.
"""

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

INTERFACES = "stdnet_ros_interfaces"
INTERFACES_INSTALL = Path(__file__).resolve().parents[2] / "build_msgs" / "install"
# Load order of the generated libraries: each needs the ones before it (they carry no RPATH).
_LIBRARIES = (
    "rosidl_generator_c",
    "rosidl_typesupport_c",
    "rosidl_generator_py",
    "rosidl_typesupport_fastrtps_c",
    "rosidl_typesupport_introspection_c",
)


class InterfacesNotBuiltError(ImportError):
    """stdnet_ros_interfaces is neither importable nor built in build_msgs/install."""


def _site_packages(install: Path) -> Path:
    return install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _check_built(install: Path) -> None:
    if not (_site_packages(install) / INTERFACES / "msg" / "__init__.py").is_file():
        raise InterfacesNotBuiltError(
            f"{INTERFACES} is not built in {install}: run `make msgs` (or tools/build_msgs.sh) first"
        )


def interfaces_env(install: Path = INTERFACES_INSTALL) -> dict[str, str]:
    """os.environ plus PYTHONPATH, LD_LIBRARY_PATH and AMENT_PREFIX_PATH for a child process using the build."""
    _check_built(install)
    env = dict(os.environ)
    for var, path in (
        ("PYTHONPATH", _site_packages(install)),
        ("LD_LIBRARY_PATH", install / "lib"),
        ("AMENT_PREFIX_PATH", install),
    ):
        env[var] = os.pathsep.join(p for p in (str(path), env.get(var, "")) if p)
    return env


def load_interfaces(install: Path = INTERFACES_INSTALL) -> None:
    """Make ``stdnet_ros_interfaces.msg`` importable here: a no-op if it already is (sourced workspace).

    Otherwise adds the build's site-packages to sys.path and preloads its shared libraries, since the
    dynamic loader read LD_LIBRARY_PATH when this process started. Raises :class:`InterfacesNotBuiltError`
    (saying to run ``make msgs``) when the build is missing.
    """
    if importlib.util.find_spec(INTERFACES) is not None:
        return
    _check_built(install)
    for name in _LIBRARIES:
        ctypes.CDLL(str(install / "lib" / f"lib{INTERFACES}__{name}.so"), mode=ctypes.RTLD_GLOBAL)
    sys.path.insert(0, str(_site_packages(install)))
