from __future__ import annotations

from ci_ml.cli import main

raise SystemExit(main())
