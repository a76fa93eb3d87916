"""The collector's pacing for importing processes (node.gc_tuning), checked
in a fresh interpreter: `tune` changes process-wide state."""

import json
import subprocess
import sys

from node import gc_tuning

_PROBE = (
    "import gc, json; from node import gc_tuning; before = gc.get_threshold(); gc_tuning.tune(); "
    "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))"
)


def test_tune_paces_young_collections_and_freezes_what_the_process_holds() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    before, after, frozen = json.loads(out.stdout)
    assert after[0] == gc_tuning.YOUNG_THRESHOLD > before[0]
    assert after[1:] == before[1:]  # the older generations keep their pacing
    assert frozen > 1_000  # the imported modules' objects, out of every later collection's walk


def test_vcoin_paces_its_own_process_and_leaves_a_callers_alone() -> None:
    probe = (
        "import gc, sys; from tools import cli; sys.argv = ['vcoin', 'wallet', '--help']\n"
        "try: cli.main(['wallet', '--help'])\nexcept SystemExit: pass\n"
        "print(gc.get_threshold()[0], file=sys.stderr)\n"
        "try: cli.main()\nexcept SystemExit: pass\n"
        "print(gc.get_threshold()[0], file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    as_library, as_process = map(int, out.stderr.split()[-2:])
    assert as_library < gc_tuning.YOUNG_THRESHOLD == as_process
