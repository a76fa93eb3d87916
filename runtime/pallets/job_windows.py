"""Windows that fit the work: `jobs.start` and `jobs.decline`.

A job's base commit window (`job_commit_window` blocks from assignment) is
sized for small jobs; a long one (many tokens, a LoRA run) needs more, and
a provider that cannot make it should say so instead of vanishing.

- `start`: the assigned provider says it began the job, once, inside its
  base window. Its commit may then land up to

      started + job_commit_window + ceil(units / (JOB_MIN_UNITS_PER_SECOND x slot_seconds))

  blocks, capped by the job's deadline (never below the window it already
  had). The rule is deterministic and depends only on the job's work units,
  fixed at submission: a provider at least as fast as
  `JOB_MIN_UNITS_PER_SECOND` that starts the job when it says so, and
  commits within the base window of finishing, never misses its commit
  (tests/runtime/pallets/test_job_windows.py). A provider that starts and
  then vanishes holds the job for that longer window and is then treated
  as any missed commit.
- `decline`: the assigned provider gives the job back, inside its commit
  window (the worker does when a run goes past it). The job goes to another
  provider (never back to this one) or, when nobody is left, back to its
  submitter at once, with no burn. Declining in time costs the provider
  1/`REPUTATION_DECLINE_STEP` of its score; vanishing (a missed commit)
  costs a quarter of it.
"""

from runtime.constants import JOB_MIN_UNITS_PER_SECOND, MAX_REFUSAL_REASON
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, text
from runtime.pallets import jobs, reputation
from runtime.pallets.job_types import schedule

calls = Calls(jobs.PALLET)


def work_blocks(units: int, slot_seconds: int) -> int:
    """The blocks a provider of the planned-for speed needs for `units`."""
    return -(-units // (JOB_MIN_UNITS_PER_SECOND * slot_seconds))


def started_commit_by(
    found: jobs.Job, started: int, base_window: int, slot_seconds: int, current: int
) -> int:
    """The last block for the commit of a job started at block `started`
    whose commit was due by `current`."""
    stretched = started + base_window + work_blocks(found.units, slot_seconds)
    return max(current, min(stretched, found.deadline))


def _assigned(ctx: Ctx, origin: bytes, job: int) -> jobs.Job:
    found = jobs.Jobs.get(ctx.state, job)
    if found is None:
        raise jobs.Error.UnknownJob(str(job))
    if found.provider != origin or found.status != jobs.JobStatus.ASSIGNED:
        raise jobs.Error.NotAssigned("only a job assigned to you and not yet committed")
    if ctx.number > jobs.commit_deadline(ctx.state, found, ctx.params):
        raise jobs.Error.TooLate("the commit window has closed")
    return found


@calls.add("start", job=amount)
def start(ctx: Ctx, origin: bytes, job: int) -> None:
    found = _assigned(ctx, origin, job)
    if jobs.CommitBy.contains(ctx.state, job):
        raise jobs.Error.AlreadyStarted("this job was started already")
    p = ctx.params
    until = started_commit_by(
        found, ctx.number, p.job_commit_window, p.slot_seconds, jobs.commit_deadline(ctx.state, found, p)
    )
    jobs.CommitBy.put(ctx.state, job, until)
    schedule(ctx, job, until + 1)
    ctx.emit(jobs.Event.Started, job=job, provider=origin, commit_by=until)


@calls.add("decline", job=amount, reason=text(MAX_REFUSAL_REASON))
def decline(ctx: Ctx, origin: bytes, job: int, reason: str) -> None:
    found = _assigned(ctx, origin, job)
    reputation.record_decline(ctx, origin)
    jobs._requeue(ctx, found, jobs.Event.Declined, failed=False, why=reason)
