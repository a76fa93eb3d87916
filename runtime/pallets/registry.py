"""Registry: the models the market knows and the providers that serve them.

A model is named by the content hash of its files (computed off chain by
`agent.models.model_hash`), with a unique short name, its job kind, its
parameter count and the GPU memory it needs. A provider is any account with
at least `min_provider_bond` bonded (validators may serve too) that lists the
models it serves, its GPU memory and its asking price per work unit; it
heartbeats once per era so that assignment only picks providers that are up.
"""

from dataclasses import dataclass, replace
from enum import auto

from runtime.constants import (
    MAX_API_URL,
    MAX_MODEL_NAME,
    MAX_MODELS_PER_PROVIDER,
    MAX_PROVIDERS_PER_MODEL,
)
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, blob, hash32, hash_list, one_of, text, u32
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.pallets import reputation, staking, treasury
from runtime.pallets.job_types import JobKind
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, bytes_tuple, sorted_insert, sorted_remove
from runtime.types import PalletEvent

PALLET = "registry"


class Error(PalletError, pallet=PALLET):
    ModelExists = auto()
    NameTaken = auto()
    BadModel = auto()
    Chilled = auto()
    InsufficientBond = auto()
    PriceTooLow = auto()
    UnknownModel = auto()
    NotEnoughMemory = auto()
    TooManyProviders = auto()
    NotProvider = auto()
    BadUrl = auto()


class Event(PalletEvent, pallet=PALLET):
    ModelRegistered = auto()
    ProviderRegistered = auto()
    ProviderRemoved = auto()
    ApiUrlSet = auto()


calls = Calls(PALLET)


@dataclass(frozen=True)
class Model:
    hash: bytes
    name: str
    kind: JobKind
    params: int  # parameter count
    memory_mb: int  # GPU memory needed to serve it
    owner: bytes

    @property
    def params_millions(self) -> int:
        return max(1, -(-self.params // 1_000_000))


@dataclass(frozen=True)
class Provider:
    models: tuple[bytes, ...] = ()
    memory_mb: int = 0
    price: int = 0  # base units per work unit
    last_seen_era: int = -1
    jobs_done: int = 0
    jobs_failed: int = 0
    open_jobs: int = 0
    chilled_until: int = 0  # a proven cheater may not serve before this block


NOBODY = Provider()
Models: StorageMap[Model | None] = StorageMap(PALLET, "Models", None, *codec(Model | None))
ModelNames: StorageMap[bytes] = StorageMap(PALLET, "ModelNames", b"")
Providers: StorageMap[Provider] = StorageMap(PALLET, "Providers", NOBODY, *codec(Provider))
ModelList: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "ModelList", (), list, bytes_tuple)
# model hash -> providers serving it, sorted (the assignment candidates)
Serving: StorageMap[tuple[bytes, ...]] = StorageMap(PALLET, "Serving", (), list, bytes_tuple)
# provider -> the URL its node takes session requests at over HTTP (`set_api_url`)
ApiUrls: StorageMap[bytes] = StorageMap(PALLET, "ApiUrls", b"")


def model(state: State, model_hash: bytes) -> Model | None:
    return Models.get(state, model_hash)


def model_by_name(state: State, name_or_hash: str) -> Model | None:
    found = ModelNames.get(state, name_or_hash.encode())
    return Models.get(state, found) if found else None


def models(state: State) -> list[Model]:
    return [m for h in ModelList.get(state) if (m := Models.get(state, h)) is not None]


def provider(state: State, who: bytes) -> Provider:
    return Providers.get(state, who)


def role(state: State, who: bytes) -> str:
    """What the account does for the chain, as `vcoin_staking` shows it:
    "validator" while it is a candidate for the validator set, else
    "provider" while it is registered to serve models, else "none"."""
    if staking.ledger(state, who).role == staking.Role.VALIDATOR:
        return staking.Role.VALIDATOR.value
    return "provider" if Providers.get(state, who).models else "none"


def is_online(ctx: Ctx, prov: Provider) -> bool:
    """Heartbeat this era or the last one."""
    return prov.last_seen_era >= staking.CurrentEra.get(ctx.state) - 1


def add_model(
    ctx: Ctx, owner: bytes, model_hash: bytes, name: str, kind: JobKind, params: int, memory_mb: int
) -> None:
    if Models.contains(ctx.state, model_hash):
        raise Error.ModelExists("a model with these files is already registered")
    if ModelNames.contains(ctx.state, name.encode()):
        raise Error.NameTaken(f"the model name {name!r} is taken")
    if params == 0:
        raise Error.BadModel("a model has at least one parameter")
    Models.put(ctx.state, model_hash, Model(model_hash, name, kind, params, memory_mb, owner))
    ModelNames.put(ctx.state, name.encode(), model_hash)
    ModelList.put(ctx.state, sorted_insert(ModelList.get(ctx.state), model_hash))
    ctx.emit(Event.ModelRegistered, hash=model_hash, model_name=name, kind=kind)


@calls.add(
    "register_model", hash=hash32, model_name=text(MAX_MODEL_NAME), kind=one_of(*JobKind), params=amount,
    memory_mb=u32,
)  # fmt: skip
def register_model(
    ctx: Ctx, origin: bytes, hash: bytes, model_name: str, kind: JobKind, params: int, memory_mb: int
) -> None:
    add_model(ctx, origin, hash, model_name, kind, params, memory_mb)


def set_provider(ctx: Ctx, who: bytes, models: list[bytes], memory_mb: int, price: int) -> None:
    until = Providers.get(ctx.state, who).chilled_until
    if ctx.number < until:
        raise Error.Chilled(f"proven cheating: this account may serve again from block {until}")
    if staking.ledger(ctx.state, who).bonded < ctx.params.min_provider_bond:
        raise Error.InsufficientBond(f"providers bond at least {ctx.params.min_provider_bond}")
    if price < ctx.params.min_job_price:
        raise Error.PriceTooLow(f"the price per work unit is at least {ctx.params.min_job_price}")
    for model_hash in models:
        found = Models.get(ctx.state, model_hash)
        if found is None:
            raise Error.UnknownModel(model_hash.hex())
        if found.memory_mb > memory_mb:
            raise Error.NotEnoughMemory(f"{found.name} needs {found.memory_mb} MB")
    old = Providers.get(ctx.state, who)
    for model_hash in set(old.models) - set(models):
        Serving.put(ctx.state, model_hash, sorted_remove(Serving.get(ctx.state, model_hash), who))
    for model_hash in models:
        serving = Serving.get(ctx.state, model_hash)
        if who not in serving and len(serving) >= MAX_PROVIDERS_PER_MODEL:
            raise Error.TooManyProviders("this model has as many providers as it may")
        Serving.put(ctx.state, model_hash, sorted_insert(serving, who))
    era = staking.CurrentEra.get(ctx.state)
    Providers.put(ctx.state, who, replace(old, models=tuple(sorted(models)), memory_mb=memory_mb,
                                          price=price, last_seen_era=era))  # fmt: skip
    ctx.emit(Event.ProviderRegistered, who=who, models=len(models), price=price)


@calls.add("register_provider", models=hash_list(MAX_MODELS_PER_PROVIDER), memory_mb=u32, price=amount)
def register_provider(ctx: Ctx, origin: bytes, models: list[bytes], memory_mb: int, price: int) -> None:
    set_provider(ctx, origin, models, memory_mb, price)


@calls.add("heartbeat")
def heartbeat(ctx: Ctx, origin: bytes) -> None:
    prov = Providers.get(ctx.state, origin)
    if not prov.models:
        raise Error.NotProvider("register as a provider first")
    era = staking.CurrentEra.get(ctx.state)
    if prov.last_seen_era < era:
        reputation.record_uptime(ctx, origin)
    Providers.put(ctx.state, origin, replace(prov, last_seen_era=era))


def _plain_url(url: bytes) -> bool:
    """An http(s) URL in printable ASCII with a host: what a user's node may dial."""
    if not url.isascii() or not all(0x21 <= b <= 0x7E for b in url):
        return False
    for scheme in (b"http://", b"https://"):
        if url.startswith(scheme) and len(url) > len(scheme):
            return url[len(scheme) : len(scheme) + 1] not in (b"/", b":")
    return False


@calls.add("set_api_url", url=blob(MAX_API_URL))
def set_api_url(ctx: Ctx, origin: bytes, url: bytes) -> None:
    """Where a provider's node takes session requests over HTTP (empty: nowhere;
    requests then reach it over the p2p network only)."""
    if not Providers.get(ctx.state, origin).models:
        raise Error.NotProvider("register as a provider first")
    if url and not _plain_url(url):
        raise Error.BadUrl(f"an http:// or https:// URL of at most {MAX_API_URL} printable characters")
    if url:
        ApiUrls.put(ctx.state, origin, url)
    else:
        ApiUrls.remove(ctx.state, origin)
    ctx.emit(Event.ApiUrlSet, who=origin, url=url)


def api_url(state: State, who: bytes) -> str:
    """The provider's published API address, or ''."""
    return ApiUrls.get(state, who).decode("ascii", errors="replace")


def remove_provider(ctx: Ctx, who: bytes, reason: str) -> None:
    prov = Providers.get(ctx.state, who)
    for model_hash in prov.models:
        Serving.put(ctx.state, model_hash, sorted_remove(Serving.get(ctx.state, model_hash), who))
    Providers.put(ctx.state, who, replace(prov, models=()))
    ctx.emit(Event.ProviderRemoved, who=who, reason=reason)


def chill(ctx: Ctx, who: bytes, until: int) -> None:
    """A proven cheater stops serving, and may not register again before `until`."""
    if Providers.get(ctx.state, who).models:  # (the slash may have removed it already)
        remove_provider(ctx, who, "proven cheating")
    prov = Providers.get(ctx.state, who)
    Providers.put(ctx.state, who, replace(prov, chilled_until=max(prov.chilled_until, until)))


@calls.add("deregister_provider")
def deregister_provider(ctx: Ctx, origin: bytes) -> None:
    if not Providers.get(ctx.state, origin).models:
        raise Error.NotProvider("not a provider")
    remove_provider(ctx, origin, "deregistered")


def count_job(ctx: Ctx, who: bytes, opened: int = 0, done: int = 0, failed: int = 0) -> None:
    prov = Providers.get(ctx.state, who)
    Providers.put(ctx.state, who, replace(prov, open_jobs=max(0, prov.open_jobs + opened),
                                          jobs_done=prov.jobs_done + done,
                                          jobs_failed=prov.jobs_failed + failed))  # fmt: skip


def enforce_bond(ctx: Ctx, who: bytes) -> None:
    """A provider slashed below the minimum bond stops being one."""
    prov = Providers.get(ctx.state, who)
    if prov.models and staking.ledger(ctx.state, who).bonded < ctx.params.min_provider_bond:
        remove_provider(ctx, who, "bond below the minimum")


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    for model_hash, name, kind, params, memory_mb in config.models:
        add_model(ctx, treasury.ECOSYSTEM, model_hash, name, JobKind(kind), params, memory_mb)
