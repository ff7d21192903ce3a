"""`python -m engine` is the same as `okta-aws`."""

import sys

from engine.cli import main

sys.exit(main())
