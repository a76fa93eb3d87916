"""The node raises its open-file limit towards the hard limit at start."""

import resource
import subprocess
import sys
from pathlib import Path

from node.fd_limit import ENOUGH

_SCRIPT = """
import resource
from node.fd_limit import raise_fd_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
now = raise_fd_limit()
print(now, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_a_low_soft_limit_is_raised_towards_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    reported, soft = map(int, done.stdout.split())
    expected = ENOUGH if hard == resource.RLIM_INFINITY else min(hard, ENOUGH)
    assert reported == soft == expected
