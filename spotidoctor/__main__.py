from __future__ import annotations

from spotidoctor.cli import main

raise SystemExit(main())
