"""When a waiting member of a broken group runs again: the lead once a
member was replaced (or after REGROUP_AFTER blocks) and never while a
member has no provider; the others when the lead's address changes."""

from dataclasses import replace

from offchain import group_member
from offchain.group_member import REGROUP_AFTER, next_attempt
from offchain.progress import RUNNING, WAITING, JobProgress
from runtime.pallets import job_groups, jobs
from tests.chain import BOB, DAVE, EVE, failed
from tests.runtime.pallets.test_job_groups import GROUP, market, submit


def _waiting(job: jobs.Job, broken_at: int) -> JobProgress:
    return JobProgress(job.id, job.assigned_at, state=WAITING, rounds_done=1, broken_at=broken_at,
                       rendezvous="127.0.0.1:1")  # fmt: skip


def test_the_lead_waits_for_a_replacement_or_the_regroup_delay() -> None:
    chain = market(BOB, DAVE, EVE, commit_window=50)
    assert failed(submit(chain, {**GROUP, "providers": 2})) is None
    lead, other = jobs.job(chain.state, 0), jobs.job(chain.state, 1)
    assert lead is not None and other is not None
    now = chain.head.number
    record, calls, again = next_attempt(chain.state, lead, _waiting(lead, now), "127.0.0.1", now + 1)
    assert not again and calls == [("progress", {"job": 0, "round": 1})] and record.progress_sent == now + 1
    record, calls, again = next_attempt(chain.state, lead, record, "127.0.0.1", now + 2)
    assert not again and calls == []  # alive already said: nothing more until it runs again
    record, calls, again = next_attempt(chain.state, lead, record, "127.0.0.1", now + REGROUP_AFTER)
    assert again and record.state == RUNNING and [name for name, _ in calls] == ["rendezvous"]
    assert record.rendezvous != "127.0.0.1:1" and record.progress_sent == -1
    replaced = replace(other, assigned_at=now + 1)  # as if the chain had given the member to another provider
    jobs.Jobs.put(chain.state, 1, replaced)
    _, _, again = next_attempt(chain.state, lead, _waiting(lead, now), "127.0.0.1", now + 2)
    assert again
    jobs.Jobs.put(chain.state, 1, replace(other, provider=b"", status=jobs.JobStatus.PENDING))
    _, _, again = next_attempt(chain.state, lead, _waiting(lead, now), "127.0.0.1", now + REGROUP_AFTER)
    assert not again  # a member without a provider: a runner would wait for it, holding the executor


def test_a_member_runs_again_when_the_leads_address_changes() -> None:
    chain = market(BOB, DAVE, commit_window=50)
    assert failed(submit(chain, {**GROUP, "providers": 2})) is None
    other = jobs.job(chain.state, 1)
    assert other is not None
    waiting = _waiting(other, chain.head.number)
    assert not next_attempt(chain.state, other, waiting, "127.0.0.1", chain.head.number)[2]  # no address
    job_groups.Rendezvous.put(chain.state, 0, b"127.0.0.1:1")
    assert not next_attempt(chain.state, other, waiting, "127.0.0.1", chain.head.number)[2]  # the broken one
    job_groups.Rendezvous.put(chain.state, 0, b"127.0.0.1:2")
    record, _, again = next_attempt(chain.state, other, waiting, "127.0.0.1", chain.head.number)
    assert again and record.rendezvous == "127.0.0.1:2" == group_member.published(chain.state, other)
