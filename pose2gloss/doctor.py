"""Pre-flight of a ClearML server run: ``python -m pose2gloss.doctor [--cpu-queue cpu --gpu-queue gpu]``.

Checks what a long run on agents needs, and prints what is missing: credentials, the files
server, every queue with an agent serving it (CPU and GPU queues served by separate agents),
and code that an agent can check out (a remote repository, HEAD pushed, no untracked modules,
a diff ClearML can store). The pipeline runs the same checks before it enqueues anything.
"""

from __future__ import annotations

import argparse
import sys

from pose2gloss.orchestration.preflight import (
    ClearmlServerApi,
    check_credentials,
    check_files_server,
    check_queues,
    check_repository,
    files_server_host,
    files_server_warnings,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-queue", default="cpu")
    parser.add_argument("--gpu-queue", default="gpu")
    parser.add_argument("--controller-queue", default="")
    args = parser.parse_args(argv)
    problems = check_credentials()
    if not problems:
        problems += check_files_server()
        for warning in files_server_warnings(files_server_host(), args.gpu_queue):
            print(f"WARNING: {warning}")
        api = ClearmlServerApi()
        problems += check_queues(
            api, cpu_queue=args.cpu_queue, gpu_queue=args.gpu_queue, controller_queue=args.controller_queue
        )
    problems += check_repository()
    for problem in problems:
        print(f"MISSING: {problem}")
    print("ready for a server run" if not problems else f"{len(problems)} problem(s); fix them before a server run")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
