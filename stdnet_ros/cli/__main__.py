"""``python -m stdnet_ros.cli``: the ``stdnet`` command (torchrun uses this form)."""

import sys

from . import main

sys.exit(main())
