"""``python -m blurutils``: see :mod:`blurutils.cli`."""

import sys

from .cli import main

sys.exit(main())
