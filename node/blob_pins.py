"""Which blobs a block's events make worth keeping: the referenced input of
every job assigned to a provider (as large as its fee says), and every
revealed result. The node touches them in its blob store, so the store's
collector keeps what open jobs need and drops what nobody referenced. A
mere submission pins nothing: a job that is never served must not lift an
upload out of the store's staging share."""

from runtime.pallets import jobs
from runtime.state import State
from runtime.types import Event


def referenced_blobs(events: tuple[Event, ...], state: State) -> list[tuple[bytes, int | None]]:
    """(digest, the size it must have, or None for any) of each blob named."""
    found: list[tuple[bytes, int | None]] = []
    for event in events:
        if event.pallet != jobs.PALLET:
            continue
        if event.name == "Revealed":
            found.append((bytes(event.data["result_hash"]), None))
        elif event.name == "Assigned":
            job = jobs.job(state, int(event.data["job"]))
            if job is not None and not job.input:
                found.append((job.input_hash, job.input_size))
    return found
