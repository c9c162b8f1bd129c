#!/usr/bin/env bash
# Build the stdnet_ros_interfaces message package (msg/) with colcon from the ROS 2 PyPI wheels in the venv.
#
#   tools/build_msgs.sh [VENV]        # VENV defaults to .venv; output goes to build_msgs/{build,install,log}
#
# Idempotent: the CMake path fix is applied only where still needed and colcon rebuilds incrementally.
# See /work/shared/research/ros_feasibility.md section 1 for why each step is needed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$(cd "${1:-$ROOT/.venv}" && pwd)"
OUT="$ROOT/build_msgs"
PY="$VENV/bin/python"

# The wheels' exported CMake targets name the include dirs of the manylinux build machine; point them at ours.
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$PY" -c 'import numpy; print(numpy.get_include())')
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')  # e.g. 3.12
TAG="cp${VER/./}-cp${VER/./}"  # the manylinux build machine's interpreter folder, e.g. cp312-cp312
mapfile -t STALE < <(grep -rl "/opt/python/$TAG" "$VENV/share" --include='*.cmake' || true)
if ((${#STALE[@]})); then
  sed -i -e "s#/opt/python/$TAG/include/python$VER#$PYINC#g" \
         -e "s#/opt/python/$TAG/lib/python$VER/site-packages/numpy/_core/include#$NPINC#g" "${STALE[@]}"
  echo "build_msgs: fixed include paths in ${#STALE[@]} CMake files under $VENV/share"
fi

# The wheels set neither prefix path; colcon, CMake and ament need both.
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
start=$(date +%s%N)
"$VENV/bin/colcon" --log-base "$OUT/log" build \
  --base-paths "$ROOT/msg" --build-base "$OUT/build" --install-base "$OUT/install" --merge-install \
  --event-handlers console_direct- \
  --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF
echo "build_msgs: colcon build took $(( ($(date +%s%N) - start) / 1000000 )) ms"

cat <<MSG
build_msgs: done. To use stdnet_ros_interfaces in a shell:
  source $OUT/install/setup.bash
or, without sourcing (stdnet_ros.ros.interfaces_env() sets the same for child processes):
  export PYTHONPATH=$OUT/install/lib/python$VER/site-packages:\$PYTHONPATH
  export LD_LIBRARY_PATH=$OUT/install/lib:\$LD_LIBRARY_PATH
  export AMENT_PREFIX_PATH=$OUT/install:\$AMENT_PREFIX_PATH
MSG
