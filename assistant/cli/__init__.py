"""`assistant` command line: a thin layer over the library (outline, chunks, facts, build, search, ask,
feedback; add, replace, remove, restore, documents).

May import: everything (it is the top of the flow); nothing imports it.
"""

from __future__ import annotations

import sys

from assistant.cli import commands, library  # noqa: F401  (each registers its commands on the app)
from assistant.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
