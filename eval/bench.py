"""Benchmark the assistant on this machine: index build, warm start, per-question stage
latency, the peer-style baseline, and a synthetic scale sweep of the search indexes.

    python eval/bench.py [--quick] [--json OUT] [--report OUT.md] [--chart OUT.png]
                         [--sizes 10000,100000,1000000] [--vectors random,real-like]

The measurements live in the package eval/bench/, one module per thing measured (its docstring
lists them and says what each run does); this file is the command.
"""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
