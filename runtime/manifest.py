"""The runtime's pallets, in order: one declaration (FRAME's
`construct_runtime!`) that the executive and genesis iterate.

A pallet is named here with its parts: its declared errors and events,
its call tables, and its hooks. Nothing else makes a pallet part of the
runtime: a call table not listed here is not dispatchable, whatever was
imported. The order is the order of every per-pallet step, like the
ordered `process_*` steps of the consensus specs' `process_epoch`:

- genesis builds each pallet's state in it (`balances` mints the
  endowments before `staking` bonds them);
- `on_initialize` runs in it at the start of a block, before any
  extrinsic;
- `on_finalize` runs in it at the end of a block, after the block's fees
  are paid out: verification closes checks before `jobs` settles (a job
  waits for its open check), `jobs` settles and `sessions` ends the
  sessions due before `emission` pays the block's verified work, and
  `staking` rotates the era after everything that reads this era's
  validators.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from runtime.context import Ctx
from runtime.dispatch import Calls, CallSpec
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.pallets import (
    balances,
    emission,
    governance,
    job_refusal,
    job_types,
    job_windows,
    jobs,
    known_answers,
    registry,
    reputation,
    session_challenges,
    session_checks,
    sessions,
    slashing,
    staking,
    system,
    treasury,
    verification,
    vesting,
)
from runtime.types import PalletEvent

Hook = Callable[[Ctx], None]
GenesisHook = Callable[[Ctx, GenesisConfig], None]


@dataclass(frozen=True)
class Pallet:
    name: str
    errors: type[PalletError] | None = None
    events: type[PalletEvent] | None = None
    calls: tuple[Calls, ...] = ()
    genesis: GenesisHook | None = None
    on_initialize: Hook | None = None
    on_finalize: Hook | None = None
    storage_version: int = 0  # of its storage layout; a change comes with a migration (runtime.migrations)

    def __post_init__(self) -> None:
        for part in (self.errors, self.events, *self.calls):
            if part is not None and part.pallet != self.name:
                raise ValueError(f"pallet {self.name} lists a part of pallet {part.pallet}")


PALLETS: Final[tuple[Pallet, ...]] = (
    Pallet("system", system.Error, system.Event, genesis=system.genesis),
    Pallet("balances", balances.Error, balances.Event, (balances.calls,), genesis=balances.genesis),
    Pallet("treasury", treasury.Error, treasury.Event, genesis=treasury.genesis),
    Pallet("vesting", None, vesting.Event, genesis=vesting.genesis, on_initialize=vesting.on_initialize),
    Pallet("reputation", None, reputation.Event),
    Pallet("registry", registry.Error, registry.Event, (registry.calls,), genesis=registry.genesis),
    Pallet("slashing", slashing.Error, slashing.Event, (slashing.calls,)),
    Pallet(
        "verification",
        verification.Error,
        verification.Event,
        (verification.calls,),
        on_finalize=verification.on_finalize,
    ),
    Pallet(
        "known_answers",
        known_answers.Error,
        known_answers.Event,
        (known_answers.calls,),
        on_finalize=known_answers.on_finalize,
    ),
    Pallet(
        "jobs",
        job_types.Error,
        job_types.Event,
        (jobs.calls, job_refusal.calls, job_windows.calls),
        on_finalize=jobs.on_finalize,
    ),
    Pallet(
        "sessions",
        sessions.Error,
        sessions.Event,
        (sessions.calls, session_checks.calls, session_challenges.calls),
        on_finalize=sessions.on_finalize,
    ),
    Pallet("emission", emission.Error, emission.Event, on_finalize=emission.on_finalize),
    Pallet(
        "staking",
        staking.Error,
        staking.Event,
        (staking.calls,),
        genesis=staking.genesis,
        on_finalize=staking.on_finalize,
    ),
    Pallet(
        "governance",
        governance.Error,
        governance.Event,
        (governance.calls,),
        on_finalize=governance.on_finalize,
    ),
)


def call_table(pallets: tuple[Pallet, ...]) -> Mapping[tuple[str, str], CallSpec]:
    """(pallet, call) -> the call, for every call table the pallets list."""
    table: dict[tuple[str, str], CallSpec] = {}
    names = [pallet.name for pallet in pallets]
    if len(set(names)) != len(names):
        raise ValueError("a pallet is listed twice")
    for pallet in pallets:
        for calls in pallet.calls:
            for spec in calls:
                if (pallet.name, spec.name) in table:
                    raise ValueError(f"{pallet.name}.{spec.name} is declared twice")
                table[(pallet.name, spec.name)] = spec
    return table


CALLS: Final = call_table(PALLETS)
