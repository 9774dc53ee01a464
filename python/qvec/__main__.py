"""``python -m qvec`` runs the command line (see :mod:`qvec.cli`)."""
import sys

from .cli import main

sys.exit(main())
