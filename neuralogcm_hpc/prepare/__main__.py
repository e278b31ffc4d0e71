"""``python -m neuralogcm_hpc.prepare``: see neuralogcm_hpc.prepare.cli."""

from neuralogcm_hpc.prepare.cli import main

raise SystemExit(main())
