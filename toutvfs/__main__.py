"""Run the command line with ``python -m toutvfs``."""

from toutvfs.cli import main

raise SystemExit(main())
