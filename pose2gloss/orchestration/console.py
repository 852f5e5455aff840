"""A readable pipeline console: step starts, ends, progress and results on the terminal;
TensorFlow/absl/XLA/NVML and ClearML chatter only in the log files.

Kept free of ClearML and TensorFlow so the controller can install it before either is imported
(their loggers then write through it).
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import IO, Any

# Library chatter: TensorFlow/XLA C++ logging, absl, CUDA/NVML probing, Python warnings, ClearML notices.
_CHATTER = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d+[: ]"  # TF C++ and logging-module timestamps
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d"  # absl / glog
    r"|WARNING: All log messages before absl|INFO: Created TensorFlow Lite"
    r"|ClearML |clearml\.|Could not fetch GPU stats|NVML"
    r"|.*(oneDNN|cuda_|cuInit|CUDA_ERROR|Unable to register cu|XLA service|xla/|TF-TRT|rebuild TensorFlow"
    r"|AVX2|NUMA node|computation placer)"
    r"|\S+\.py:\d+: \w*Warning"  # warnings.warn() header ...
    r"|  (warnings\.warn|super\(\)\.__init__|self\._warn_if_super_not_called))"  # ... and its source line
)
# What ClearML's PipelineController prints about each launch (the step lines say it better).
_CONTROLLER_CHATTER = re.compile(
    r"^(Launching (the next|step)|Parameters:|Configurations:|Overrides:|\{.*\}$"
    r"|Setting pipeline controller|No repository found|Can't get url)"
)


def is_chatter(line: str) -> bool:
    """True for library noise that belongs in a log file only."""
    return bool(_CHATTER.match(line)) or not line.strip()


class FilteredStream:
    """A text stream that writes everything to ``log`` and only non-chatter lines to ``terminal``."""

    def __init__(self, terminal: IO[str], log: IO[str]) -> None:
        self.terminal, self.log = terminal, log
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.log.write(text)
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                if not (_CHATTER.match(line) or _CONTROLLER_CHATTER.match(line)):
                    self.terminal.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.terminal.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno ... of the terminal
        return getattr(self.terminal, name)


def install(log_path: Path) -> None:
    """Route this process's stdout and stderr through :class:`FilteredStream`, keeping all in ``log_path``.

    Installed for the rest of the process: ClearML wraps whatever streams exist when a task
    starts, and writes through them until the process exits.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("a", buffering=1)
    sys.stdout = FilteredStream(sys.stdout, log)
    sys.stderr = FilteredStream(sys.stderr, log)
