"""The layout's one rule (README "Code map"): the core never imports ROS. rclpy, cv_bridge, message_filters, launch
and the node's own ROS layer (stdnet_ros.ros) are imported only by ros/, the bag tools (bags/: rclpy's message
classes and CDR codec, the node's sync and parameters) and the two DDS benchmarks; the ``stdnet`` dispatcher
imports them only when such a command runs."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stdnet_ros"
ROS_ROOTS = (
    "rclpy",
    "cv_bridge",
    "message_filters",
    "launch",
    "launch_ros",
    "launch_testing",
    "rosbag2_py",
    "sensor_msgs",
    "std_msgs",
    "diagnostic_msgs",
    "geometry_msgs",
    "stdnet_ros_interfaces",
    "stdnet_ros.ros",
)
ROS_SIDE = ("stdnet_ros.ros", "stdnet_ros.bags", "stdnet_ros.bench.latency_bench", "stdnet_ros.bench.node_bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_under(name: str, roots) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def imports_in(source: str, package: str) -> set[str]:
    """Every module a source file of ``package`` imports, anywhere in it (function-level imports too), as
    absolute names."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # "from . import x" imports module x
    return found


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    return imports_in(path.read_text(), name if path.name == "__init__.py" else name.rpartition(".")[0])


def core_modules() -> dict[str, Path]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: p for m, p in modules.items() if not is_under(m, ROS_SIDE)}


def test_no_core_module_reaches_ros_through_its_imports():
    graph = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    offenders = {}
    for start in core_modules():
        seen, stack, path_to = {start}, [start], {start: [start]}
        while stack:
            current = stack.pop()
            for target in graph.get(current, ()):
                if is_under(target, ROS_ROOTS):
                    offenders.setdefault(start, " -> ".join(path_to[current] + [target]))
                elif target in graph and target not in seen:
                    seen.add(target)
                    path_to[target] = path_to[current] + [target]
                    stack.append(target)
    assert not offenders, "ROS imported by the core:\n" + "\n".join(offenders.values())


def test_the_rule_sees_an_import_inside_a_function():
    assert "stdnet_ros.ros.node" in imports_in("def f():\n    from .ros import node\n", "stdnet_ros")
    assert "stdnet_ros.ros" in imports_in("def f():\n    from ..ros import sync\n", "stdnet_ros.bags")


def test_every_core_module_and_the_dispatcher_import_where_ros_cannot_be_imported():
    """A fresh interpreter that refuses every ROS package imports each core module and builds the whole
    ``stdnet`` parser (every subcommand's options)."""
    blocker = (
        "import importlib.abc, sys\n"
        f"ROOTS = {ROS_ROOTS!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if any(name == r or name.startswith(r + '.') for r in ROOTS):\n"
        "            raise ImportError(f'blocked ROS import: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    modules = sorted(m for m in core_modules() if m != "stdnet_ros.cli.__main__")
    code = blocker + (
        f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "from stdnet_ros.cli import build_parser\nbuild_parser().parse_args(['train', '--help'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "usage: stdnet train" in result.stdout, result.stderr[-2000:]
    assert result.returncode == 0


def test_the_blocker_would_catch_a_ros_import():
    code = (
        "import importlib.abc, sys\nclass Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rclpy' or name.startswith('rclpy.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\nimport stdnet_ros.ros.node\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "blocked" in result.stderr
