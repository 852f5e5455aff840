"""``python -m pose2gloss.data.synthetic --out data/sample --seed 0`` writes the sample (options: ``--help``)."""

from __future__ import annotations

from pose2gloss.data.synthetic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
