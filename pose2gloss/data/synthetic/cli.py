"""The command line that writes a synthetic sample: ``python -m pose2gloss.data.synthetic``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose2gloss.data.synthetic.writer import DEFAULT_SIZE, generate_sample


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the sample and print a one-line summary."""
    # The package's docstring says what the sample is; the package is fully imported by now.
    summary = (sys.modules[__package__].__doc__ or "").partition("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m pose2gloss.data.synthetic", description=summary)
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output directory")
    parser.add_argument("--signs", type=int, default=DEFAULT_SIZE["n_signs"], help="number of signs (1..250)")
    parser.add_argument(
        "--participants", type=int, default=DEFAULT_SIZE["n_participants"], help="number of participants"
    )
    parser.add_argument(
        "--sequences-per-sign",
        type=int,
        default=DEFAULT_SIZE["sequences_per_sign"],
        help="sequences per sign and participant",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    args = parser.parse_args(argv)
    try:
        out = generate_sample(
            args.out,
            n_signs=args.signs,
            n_participants=args.participants,
            sequences_per_sign=args.sequences_per_sign,
            seed=args.seed,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n_sequences = args.signs * args.participants * args.sequences_per_sign
    print(f"wrote {n_sequences} sequences of {args.signs} signs by {args.participants} participants to {out}")
    return 0
