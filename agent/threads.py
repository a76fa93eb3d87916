"""How many CPU threads a sandboxed job's math library may use.

On a CPU-only provider the job shares the machine with its own node (block
import, the API, settles). A math library that spreads one operation over
every core stalls on whichever core the node holds at that moment: on 2
cores, MiniLM served through the API ran 66 requests/s with 2 threads and
70/s with 1 (`vcoin bench serve`). So a job gets every usable core but one,
unless the operator says otherwise with OMP_NUM_THREADS.
"""

import os

THREADS_ENV = "OMP_NUM_THREADS"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def job_threads(limit: float | None = None) -> int:
    """The operator's OMP_NUM_THREADS when set and valid, else every usable
    core but one for the node, within the sandbox's CPU `limit`; at least one."""
    told = os.environ.get(THREADS_ENV, "")
    if told.isdigit() and int(told) > 0:
        return int(told)
    spare = usable_cores() - 1
    return max(1, spare if limit is None else min(spare, int(limit)))


def thread_env(limit: float | None = None) -> dict[str, str]:
    """The environment a sandboxed runner starts with, for its thread pools."""
    threads = str(job_threads(limit))
    return {THREADS_ENV: threads, "MKL_NUM_THREADS": threads}
