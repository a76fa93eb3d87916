"""Raise this process's open-file limit to its hard limit, as Substrate's
`fdlimit::raise_fd_limit` does at start: every peer, RPC or API client and
LevelDB table file holds a descriptor, and the usual soft limit of 1,024
is one burst of connections away, after which the node cannot even write
its slashing-protection record (a validator would stop voting)."""

import logging
import resource

log = logging.getLogger("vcoin.node")
ENOUGH = 1 << 16  # past this, more descriptors buy nothing a node needs


def raise_fd_limit() -> int:
    """The soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ENOUGH if hard == resource.RLIM_INFINITY else min(hard, ENOUGH)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:  # a container may refuse: the node runs with what it has
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
            return soft
        return wanted
    return soft
