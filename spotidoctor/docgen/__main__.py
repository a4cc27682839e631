"""``python -m spotidoctor.docgen [DOCS_DIR]``: rewrite docs/checks.md and docs/spotidoctor.1."""
from __future__ import annotations

import os
import sys

from spotidoctor.docgen.files import write_all

if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs")
    for path in write_all(sys.argv[1] if len(sys.argv) > 1 else default):
        print(path)
