from __future__ import annotations

from ci_ml.launch import main

raise SystemExit(main())
