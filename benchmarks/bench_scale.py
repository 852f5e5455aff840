"""The whole pipeline at two GISLR-shaped sizes: peak memory, stored bytes and speed per step.

    python benchmarks/bench_scale.py [--sizes 1050,5250] [--work-dir /tmp/pose2gloss-scale]

Generates synthetic data in the GISLR layout (21 participants, 50 or 250 signs, one sequence per
sign and participant), runs ``pipeline_from_tasks.py --full`` on each, cut short with ``--set``
(one epoch, ConvNeXtTiny on 64 samples, one HPO trial), and reads each step's peak RSS and
stored bytes from the run summary. Steps 1-3's throughput is the marginal rate between the
two sizes, so each step's fixed start-up does not count. Every per-step number is then
extrapolated linearly to the real GISLR size. A last run at the largest size shows the data
steps reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GISLR_SEQUENCES = 94_477
PARTICIPANTS = 21
DATA_STEPS = ("data_splitting", "data_augmentation", "data_transformation")
SHORT = {
    "train_gislr.epochs": 1,
    "train_convnexttiny.epochs": 1,
    "train_convnexttiny.max_train_samples": 64,
    "hyperparameter_tuning.total_max_jobs": 1,
    "hyperparameter_tuning.max_number_of_concurrent_tasks": 1,
}


def generate(root: Path, sequences: int) -> Path:
    from pose2gloss.data.synthetic import generate_sample

    if not (root / "train.csv").is_file():
        generate_sample(root, n_signs=sequences // PARTICIPANTS, n_participants=PARTICIPANTS, sequences_per_sign=1)
    return root


def run_pipeline(data: Path, runs: Path, summary: Path, reuse: bool) -> dict:
    command = [sys.executable, "pipeline_from_tasks.py", "--full", "--offline", "--data-dir", str(data)]
    command += ["--runs-dir", str(runs), "--summary", str(summary)]
    command += [] if reuse else ["--no-reuse"]
    for name, value in SHORT.items():
        command += ["--set", f"{name}={value}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    started = time.time()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pipeline failed on {data}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    result = json.loads(summary.read_text())
    result["wall_s"] = time.time() - started
    return result


def per_step(summary: dict) -> dict[str, dict]:
    return {n["name"]: n for n in summary["nodes"]}


def extrapolate(small: float, large: float, n_small: int, n_large: int, n: int) -> float:
    return large + (large - small) * (n - n_large) / (n_large - n_small)


def _duration(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 90 else f"{seconds / 60:,.0f} min"


def report(results: dict[int, dict]) -> None:
    small_n, large_n = sorted(results)
    small, large = per_step(results[small_n]), per_step(results[large_n])
    print(f"\n{'step':<24}{'size':>6}{'duration':>10}{'seq/s':>8}{'peak RSS':>11}{'stored':>11}{'models':>10}")
    for n in (small_n, large_n):
        for name, node in per_step(results[n]).items():
            rate = n / node["duration_s"] if node["duration_s"] else 0
            print(
                f"{name:<24}{n:>6}{node['duration_s']:>9.1f}s{rate:>8.0f}{node['peak_rss_mb']:>8.0f} MB"
                f"{node['stored_mb']:>8.1f} MB{node['model_mb']:>7.1f} MB"
            )
        total = results[n]
        print(
            f"{'  whole run':<24}{n:>6}{total['wall_s']:>9.1f}s{'':>8}{total['peak_rss_mb']:>8.0f} MB"
            f"{total['stored_mb']:>8.1f} MB{total['model_mb']:>7.1f} MB  "
            f"({total['stored_kb_per_sequence']:.1f} KB per input sequence)"
        )

    data_time = {n: sum(per_step(results[n])[s]["duration_s"] for s in DATA_STEPS) for n in results}
    marginal = (large_n - small_n) / (data_time[large_n] - data_time[small_n])
    growth = results[large_n]["peak_rss_mb"] / results[small_n]["peak_rss_mb"] - 1
    print(f"\nsteps 1-3: {data_time[small_n]:.1f}s at {small_n}, {data_time[large_n]:.1f}s at {large_n}")
    print(f"steps 1-3 marginal throughput: {marginal:.0f} input sequences/s (start-up excluded)")
    print(f"steps 1-3 at {large_n}: {large_n / data_time[large_n]:.0f} input sequences/s (start-up included)")
    print(
        f"largest step peak RSS: {results[small_n]['peak_rss_mb']:.0f} MB at {small_n}, "
        f"{results[large_n]['peak_rss_mb']:.0f} MB at {large_n} ({growth:+.1%})"
    )

    print(f"\nestimated for GISLR ({GISLR_SEQUENCES:,} sequences):")
    print("stored bytes grow linearly (extrapolated from the two runs); peak RSS is bounded by the shard,")
    print(f"batch and class counts (measured at {large_n}); time scales with the sequences (upper bound: the")
    print(f"{large_n} run's time including start-up, times {GISLR_SEQUENCES:,}/{large_n}).")
    print("| step | time | peak RSS | stored (data) |")
    print("|---|---:|---:|---:|")
    stored_total = 0.0
    for name in large:
        stored = max(
            extrapolate(small[name]["stored_mb"], large[name]["stored_mb"], small_n, large_n, GISLR_SEQUENCES), 0
        )
        stored_total += stored
        time_s = large[name]["duration_s"] * GISLR_SEQUENCES / large_n
        print(f"| {name} | <= {_duration(time_s)} | {large[name]['peak_rss_mb']:,.0f} MB | {stored / 1024:,.2f} GB |")
    print(
        f"| whole run (data) | | {results[large_n]['peak_rss_mb']:,.0f} MB | {stored_total / 1024:,.1f} GB "
        f"({stored_total * 1024 / GISLR_SEQUENCES:.0f} KB per sequence) |"
    )
    print("(training time is for the shortened run: one epoch, ConvNeXtTiny on 64 samples, one HPO trial, CPU)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1050,5250", help="two sizes, multiples of 21")
    parser.add_argument("--work-dir", default="/tmp/pose2gloss-scale", help="data and runs go here")
    parser.add_argument("--keep", action="store_true", help="keep the runs (the data is always kept)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(sizes) != 2 or any(s % PARTICIPANTS for s in sizes):
        raise SystemExit(f"--sizes takes two multiples of {PARTICIPANTS}")
    work = Path(args.work_dir)
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}", flush=True)
    results = {}
    for n in sizes:
        data = generate(work / f"data-{n}", n)
        runs = work / f"runs-{n}"
        shutil.rmtree(runs, ignore_errors=True)
        results[n] = run_pipeline(data, runs, work / f"summary-{n}.json", reuse=False)
        print(f"{n} sequences: {results[n]['wall_s']:.0f}s, load average {os.getloadavg()}", flush=True)
    report(results)

    again = run_pipeline(work / f"data-{sizes[-1]}", work / f"runs-{sizes[-1]}", work / "summary-again.json", True)
    data_steps = {n["name"]: n for n in again["nodes"] if n["name"] in DATA_STEPS}
    print(
        f"\nsecond run at {sizes[-1]} (same data and parameters): reused {again['reused_steps']}, "
        f"{again['wall_s']:.0f}s instead of {results[sizes[-1]]['wall_s']:.0f}s; "
        f"data steps' task ids {[n['task_id'] for n in data_steps.values()]}"
    )
    print(f"load average after: {os.getloadavg()}")
    if not args.keep:
        for n in sizes:
            shutil.rmtree(work / f"runs-{n}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
