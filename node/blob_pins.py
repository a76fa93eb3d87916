"""Which blobs a block's events make worth keeping: the referenced input of
every job submitted or (re)assigned, and every revealed result. The node
touches them in its blob store, so the store's collector keeps what open
jobs need and drops what nobody referenced."""

from runtime.pallets import jobs
from runtime.state import State
from runtime.types import Event

INPUT_EVENTS = frozenset({"Submitted", "Assigned"})


def referenced_blobs(events: tuple[Event, ...], state: State) -> list[bytes]:
    found = []
    for event in events:
        if event.pallet != jobs.PALLET:
            continue
        if event.name == "Revealed":
            found.append(bytes(event.data["result_hash"]))
        elif event.name in INPUT_EVENTS:
            job = jobs.job(state, int(event.data["job"]))
            if job is not None and not job.input:
                found.append(job.input_hash)
    return found
