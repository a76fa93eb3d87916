"""The OpenAI-compatible API of a dev node with a worker, through the
official `openai` client: embeddings equal the packaged MiniLM run directly,
streamed chat completions are the tokens of a direct greedy run, a wrong key
gets 401, a key over its limit 402, and a session's money adds up."""

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import loading
from agent.job import JobSpec
from agent.kinds import KINDS, tokenizer
from agent.models import PACKAGED
from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import NodeProcess, fast_dev_spec, vcoin, wait_until
from tools.testnet import free_port

openai = pytest.importorskip("openai")
pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
BOB = to_address(dev_keypair("//bob").public)
MINILM, SMOLLM = PACKAGED[0], PACKAGED[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, int, Path]]:
    root = tmp_path_factory.mktemp("api")
    port, keys = free_port(), root / "keys"
    spec = fast_dev_spec(root / "spec.json", job_commit_window=200)  # a LoRA job on a loaded CPU
    extra = ["--worker", "--executor", "local", "--api-port", str(port), "--api-keys", str(keys),
             "--packaged-models", f"{MINILM.name},{SMOLLM.name}"]  # fmt: skip
    node = NodeProcess(root / "node", spec, extra=extra).start()
    try:
        wait_until(lambda: len(node.rpc("vcoin_provider", to_address(dev_keypair("//alice").public))["models"]) >= 2,
                   60, "the worker to register its models")  # fmt: skip
        yield node, port, keys
    finally:
        node.stop()


def new_key(keys: Path, *more: str) -> str:
    out = vcoin("api-key", "new", "--account", "//bob", "--dir", str(keys), "--json", *more)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["account"] == BOB
    return str(made["key"])


def client(port: int, key: str) -> Any:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=300)


def test_embeddings_equal_the_packaged_model_run_directly(api: tuple[NodeProcess, int, Path]) -> None:
    node, port, keys = api
    texts = ["The quick brown fox jumps over the lazy dog.", "VCoin pays for GPU compute."]
    got = client(port, new_key(keys)).embeddings.create(model=MINILM.name, input=texts)
    path = MINILM.path()
    assert path is not None
    direct = KINDS["embed"].run(JobSpec("embed", texts, {}), path, "cpu")["vectors"]
    assert len(got.data) == 2
    for item, want in zip(got.data, direct, strict=True):
        have, ref = item.embedding, [v / 1e6 for v in want]
        dot = sum(a * b for a, b in zip(have, ref, strict=True))
        norm = (sum(a * a for a in have) * sum(b * b for b in ref)) ** 0.5
        assert dot / norm >= 0.999


def test_streamed_chat_yields_the_tokens_of_a_direct_greedy_run(api: tuple[NodeProcess, int, Path]) -> None:
    node, port, keys = api
    messages = [{"role": "user", "content": "Name a colour."}]
    stream = client(port, new_key(keys)).chat.completions.create(
        model=SMOLLM.name,
        messages=messages,
        max_tokens=12,
        stream=True,
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content is not None
    ]
    path = SMOLLM.path()
    assert path is not None
    tok, _ = loading.causal_lm(path, "cpu")
    prompt = tokenizer.render_chat(tok, messages)
    direct = KINDS["inference"].run(JobSpec("inference", prompt, {"max_tokens": 12}), path, "cpu")
    assert "".join(pieces) == direct["text"]
    assert [p for p in pieces if p] == [p for p in tokenizer.pieces(tok, direct["tokens"]) if p]


def test_a_wrong_key_gets_401(api: tuple[NodeProcess, int, Path]) -> None:
    _, port, _ = api
    with pytest.raises(openai.AuthenticationError):
        client(port, "vck_not-a-key").embeddings.create(model=MINILM.name, input="hi")


def test_a_key_over_its_limit_gets_402(api: tuple[NodeProcess, int, Path]) -> None:
    _, port, keys = api
    tiny = client(port, new_key(keys, "--limit", "0.000000001"))
    with pytest.raises(openai.APIStatusError) as raised:
        tiny.embeddings.create(model=MINILM.name, input="a sentence that costs more than one base unit")
    assert raised.value.status_code == 402


def test_an_unknown_model_gets_404(api: tuple[NodeProcess, int, Path]) -> None:
    _, port, keys = api
    with pytest.raises(openai.NotFoundError):
        client(port, new_key(keys)).embeddings.create(model="no-such-model", input="hi")
    listed = {m.id for m in client(port, new_key(keys)).models.list()}
    assert {MINILM.name, SMOLLM.name} <= listed


def test_requests_are_settled_and_the_deposit_comes_back(api: tuple[NodeProcess, int, Path]) -> None:
    """After requests through the API, the provider settles them on chain
    (one extrinsic for many requests); closing the session refunds the rest:
    nothing of the deposits stays reserved."""
    node, port, keys = api
    answering = client(port, new_key(keys))
    for i in range(5):
        answering.embeddings.create(model=MINILM.name, input=f"sentence number {i}")
    mine = [
        s for s in node.rpc("vcoin_sessions", {"account": BOB}) if s["user"] == BOB and s["status"] == "open"
    ]
    assert mine
    wait_until(lambda: all(node.rpc("vcoin_session", s["id"])["seq"] >= 1 for s in mine), 60, "a settle")
    for found in mine:
        settled = node.rpc("vcoin_session", found["id"])
        assert settled["paid"] == settled["units"] * settled["price"] > 0
        assert settled["batches"] <= settled["seq"]  # fewer settles than requests, or as many
        out = node.cli("session", "close", str(found["id"]), "--from", "//bob", "--json")
        assert out.returncode == 0, out.stderr
    wait_until(
        lambda: all(node.rpc("vcoin_session", s["id"]) is None for s in mine), 120, "the sessions' end"
    )
    assert node.rpc("vcoin_account", BOB)["reserved"] == 0
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{node.prometheus_port}/metrics", timeout=10).read().decode()
    )
    served = re.search(r"^vcoin_session_requests_served_total (\S+)$", metrics, re.M)
    assert served is not None and float(served.group(1)) >= 5
    assert re.search(r'^vcoin_api_requests_total\{route="/v1/embeddings",status="200"\} [1-9]', metrics, re.M)
    # the settles, counted chain-wide from the blocks, by the session's kind and model name
    settled = re.search(r'^vcoin_market_requests_served_total\{kind="embed",model="all-minilm-l6-v2"\} (\S+)$',
                        metrics, re.M)  # fmt: skip
    assert settled is not None and float(settled.group(1)) >= 5


def test_fine_tuning_through_files_and_jobs_runs_a_lora_job(api: tuple[NodeProcess, int, Path]) -> None:
    node, port, keys = api
    openai_client = client(port, new_key(keys))
    lines = [json.dumps({"text": "VCoin pays GPU providers for verified work."}),
             json.dumps({"prompt": "Q: what is VCoin? A: ", "completion": "a market for compute."}),
             json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})]  # fmt: skip
    uploaded = openai_client.files.create(
        file=("train.jsonl", "\n".join(lines).encode()), purpose="fine-tune"
    )
    assert uploaded.id.startswith("file-") and uploaded.bytes > 0
    job = openai_client.fine_tuning.jobs.create(
        model=SMOLLM.name, training_file=uploaded.id, hyperparameters={"n_epochs": 2}
    )
    assert job.status in ("queued", "running")

    def finished() -> bool:
        return openai_client.fine_tuning.jobs.retrieve(job.id).status in ("succeeded", "failed", "cancelled")

    wait_until(finished, 300, "the LoRA job to finish")
    done = openai_client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded", done
    assert done.fine_tuned_model and done.fine_tuned_model.startswith("0x")
    job_id = int(job.id.removeprefix("ftjob-"))
    on_chain = node.rpc("vcoin_job", job_id)
    assert on_chain["kind"] == "lora" and on_chain["options"]["steps"] == 2
    with pytest.raises(openai.NotFoundError):
        client(port, new_key(keys)).fine_tuning.jobs.retrieve("ftjob-999999")
