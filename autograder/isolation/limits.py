"""The time and memory limits of one submission's grading."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_MEMORY_GB = 8
"""Address-space limit of a student process, in GiB, unless ``--memory-gb`` says otherwise."""


@dataclass(frozen=True)
class Limits:
    """Time and memory limits of a submission's grading (seconds, bytes).

    Attributes:
        startup_seconds: starting the process (import TensorFlow, build the models) and running the notebook's
            selected statements.
        call_seconds: one call of a student function (the first call on SqueezeNet includes TensorFlow's
            warm-up; tracing for tf.function takes a few seconds).
        loop_seconds: the whole run of the provided loop (check score_increase).
        submission_seconds: everything for one submission; what is left undone when it runs out scores 0.
        memory_bytes: address-space limit of the student process (RLIMIT_AS); TensorFlow with SqueezeNet
            needs about 2.5 GB of address space.
        cpu_seconds: CPU-time limit of the student process (RLIMIT_CPU), a backstop behind the wall-clock limits.
        file_bytes: largest file the student process may write (RLIMIT_FSIZE).
        threads: TensorFlow intra-op and inter-op threads in the student process (fixed, so grades and values do
            not depend on the number of parallel jobs).
        processes: processes and threads the student's user may have (RLIMIT_NPROC; not applied under "audit-hook
            only", where the process runs as the grader's user).
    """
    startup_seconds: float = 180.0
    call_seconds: float = 60.0
    loop_seconds: float = 300.0
    submission_seconds: float = 900.0
    memory_bytes: int = DEFAULT_MEMORY_GB * 2 ** 30
    cpu_seconds: int = 1800
    file_bytes: int = 256 * 2 ** 20
    threads: int = 1
    processes: int = 1024

    def to_dict(self) -> dict:
        return asdict(self)
