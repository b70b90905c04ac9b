"""`python -m fuzzmm` runs the fuzzmm command."""
import sys

from fuzzmm.cli import main

sys.exit(main())
