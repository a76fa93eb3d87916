"""The keys the members of a job spread over providers authenticate their
round vectors with (`agent.diloco_group`): the group's store at the lead's
address is open to anyone who reaches it, so a vector must show it came
from the member whose key it sits under.

Each pair of members shares a key without a message: X25519 between their
providers' chain keys (ed25519, converted), bound to the job's lead id. A
member is given one key per other member, by rank. A replaced member's
provider differs, so the keys follow whoever the chain assigned.
"""

import hashlib

import nacl.exceptions
import nacl.public
import nacl.signing

from agent.canonical import encode
from runtime.crypto import Keypair
from runtime.pallets import job_groups, jobs
from runtime.state import State


def pair_key(own: Keypair, peer: bytes, lead: int) -> bytes:
    """What `own` and the holder of `peer` both derive, and nobody else."""
    private = nacl.signing.SigningKey(own.seed).to_curve25519_private_key()
    public = nacl.signing.VerifyKey(peer).to_curve25519_public_key()
    shared = nacl.public.Box(private, public).shared_key()
    return hashlib.blake2b(
        lead.to_bytes(8, "big"), key=shared, digest_size=32, person=b"vcoin-dlora"
    ).digest()


def member_keys(own: Keypair, state: State, job: jobs.Job) -> bytes:
    """The encoded keys for `job`'s run, by rank (empty at its own), or b""
    while a member has no provider or a provider's key is no curve point:
    the run then cannot authenticate the others and the group fails to form,
    to try again later."""
    lead = job.options.get("lead", job.id)
    keys: list[bytes] = []
    for member in job_groups.members(job):
        found = jobs.job(state, member)
        if found is None or not found.provider:
            return b""
        if member == job.id:
            keys.append(b"")
            continue
        try:
            keys.append(pair_key(own, found.provider, lead))
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return b""
    return encode(keys)
