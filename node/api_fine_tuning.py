"""OpenAI's files and fine-tuning endpoints, mapped to today's on-chain LoRA jobs.

    POST /v1/files                      a JSONL training file (multipart, purpose fine-tune): a blob here
    POST /v1/fine_tuning/jobs           {model, training_file, hyperparameters?, seed?}: `jobs.submit` (lora)
    GET  /v1/fine_tuning/jobs/{id}      the job, as OpenAI shows one

Each JSONL line gives one training text: `{"text": ...}`, `{"prompt": ...,
"completion": ...}` (joined), or `{"messages": [...]}` (the contents, one
per line). Hyperparameters: `n_epochs` is the LoRA steps, the learning rate
multiplier scales the default 1e-3. The job's fee is capped at its work
units times the dearest price among the model's providers, and that cap is
what the API key is charged. The adapter stays with the job's result (`vcoin
job result ID --out adapter.safetensors`); `fine_tuned_model` names it by hash.
"""

import email.parser
import email.policy
import json
import time
from typing import Any

from node.api_keys import ApiKey
from node.api_sessions import ApiError, SessionBroker
from offchain.blobs import BlobStoreFull
from runtime.codec import encode
from runtime.constants import MAX_INLINE_INPUT, MAX_LORA_STEPS
from runtime.crypto import Keypair
from runtime.pallets import jobs, registry
from runtime.pallets.job_rules import MAX_REFERENCED_TEXTS, SERVES, check_options, work_units
from runtime.pallets.job_types import JobKind, JobStatus
from runtime.types import Call

MAX_FILE = 16 * 1024 * 1024
FT_DEADLINE = 600  # blocks the job may wait for a provider
STATUS = {
    JobStatus.PENDING: "queued", JobStatus.ASSIGNED: "running", JobStatus.COMMITTED: "running",
    JobStatus.REVEALED: "running", JobStatus.SETTLED: "succeeded", JobStatus.REFUNDED: "cancelled",
    JobStatus.REJECTED: "failed",
}  # fmt: skip


def uploaded_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    """The filename and bytes of the `file` part of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(400, "invalid_upload", "upload the file as multipart/form-data (field `file`)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True)
            return str(part.get_filename() or "training.jsonl"), bytes(data or b"")
    raise ApiError(400, "invalid_upload", "the form has no `file` field")


def training_texts(data: bytes) -> list[str]:
    texts = []
    try:
        lines = data.decode("utf-8", errors="strict").splitlines()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_file", "a training file is UTF-8 text") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ApiError(400, "invalid_file", f"line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise ApiError(400, "invalid_file", f"line {number} is not an object")
        if isinstance(row.get("text"), str):
            text = row["text"]
        elif isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
            text = row["prompt"] + row["completion"]
        elif isinstance(row.get("messages"), list):
            text = "\n".join(str(m.get("content", "")) for m in row["messages"] if isinstance(m, dict))
        else:
            raise ApiError(400, "invalid_file", f"line {number} has no text, prompt/completion or messages")
        if text:
            texts.append(text)
    if not 0 < len(texts) <= MAX_REFERENCED_TEXTS:
        raise ApiError(400, "invalid_file", f"a training file holds 1 to {MAX_REFERENCED_TEXTS} texts")
    return texts


class FineTuning:
    def __init__(self, node: Any, broker: SessionBroker) -> None:
        self.node, self.broker = node, broker

    def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        if len(body) > MAX_FILE:
            raise ApiError(413, "too_large", f"a training file is at most {MAX_FILE >> 20} MiB")
        name, data = uploaded_file(content_type, body)
        training_texts(data)  # refused now rather than when a job is made of it
        try:
            digest = self.node.blobs.put(data, staged=True)
        except BlobStoreFull as exc:
            raise ApiError(503, "storage_full", f"{exc}; try again later", "server_error") from None
        return {"id": f"file-{digest.hex()}", "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": "fine-tune", "status": "processed"}  # fmt: skip

    async def create(self, key: ApiKey, account: Keypair, body: dict[str, Any]) -> dict[str, Any]:
        state = self.node.chain.state
        model = registry.model_by_name(state, str(body.get("model", "")))
        if model is None:
            raise ApiError(404, "model_not_found", f"The model `{body.get('model')}` does not exist")
        if JobKind.LORA not in SERVES[model.kind]:
            raise ApiError(400, "wrong_model_kind", f"`{model.name}` cannot be fine-tuned")
        file_id = str(body.get("training_file", ""))
        try:
            data = self.node.blobs.get(bytes.fromhex(file_id.removeprefix("file-")))
        except ValueError:
            data = None
        if data is None:
            raise ApiError(404, "file_not_found", f"no file {file_id!r} on this node (POST /v1/files first)")
        raw = encode(training_texts(data))
        settings = self._settings(body)
        units = work_units(JobKind.LORA, model.params_millions, len(raw), settings)
        prices = [registry.provider(state, who).price for who in registry.Serving.get(state, model.hash)]
        if not prices:
            raise ApiError(503, "provider_unavailable", f"no provider serves {model.name}", "server_error")
        max_fee = units * max(prices)
        left = key.left()
        if left is not None and max_fee > left:
            raise ApiError(402, "insufficient_quota", "this API key's limit does not cover the job")
        inline = len(raw) <= MAX_INLINE_INPUT
        input_hash = b"" if inline else self.node.blobs.put(raw, staged=True)
        args = {"kind": "lora", "model": model.hash, "input": raw if inline else b"", "input_hash": input_hash,
                "input_size": 0 if inline else len(raw), "options": settings, "max_fee": max_fee,
                "deadline": FT_DEADLINE, "min_reputation": 0}  # fmt: skip
        status = await self.broker.included(self.broker.submit(account, Call("jobs", "submit", args)))
        if not status["success"]:
            raise ApiError(
                400, "job_refused", f"the chain refused the job: {status['error']} ({status['detail']})"
            )
        self.broker.keys.charge(key, max_fee)
        submitted = next(e for e in status["events"] if e["name"] == "Submitted")
        return self.describe(account, int(submitted["data"]["job"]))

    def _settings(self, body: dict[str, Any]) -> dict[str, int]:
        hyper = body.get("hyperparameters") or {}
        if not isinstance(hyper, dict):
            raise ApiError(400, "invalid_value", "hyperparameters is an object")
        options: dict[str, Any] = {}
        epochs = hyper.get("n_epochs", "auto")
        if epochs != "auto":
            if type(epochs) is not int or not 1 <= epochs <= MAX_LORA_STEPS:
                raise ApiError(400, "invalid_value", f"n_epochs is 1 to {MAX_LORA_STEPS} (LoRA steps)")
            options["steps"] = epochs
        multiplier = hyper.get("learning_rate_multiplier", "auto")
        if multiplier != "auto":
            if not isinstance(multiplier, int | float) or not 0 < multiplier <= 1000:
                raise ApiError(400, "invalid_value", "learning_rate_multiplier is a number in (0, 1000]")
            options["lr_ppm"] = max(1, round(multiplier * 1000))
        if body.get("seed") is not None:
            options["seed"] = body["seed"]
        try:
            return check_options(JobKind.LORA, options)
        except ValueError as exc:
            raise ApiError(400, "invalid_value", str(exc)) from None

    def describe(self, account: Keypair, job_id: int) -> dict[str, Any]:
        found = jobs.job(self.node.chain.state, job_id)
        if found is None or found.submitter != account.public or found.kind != JobKind.LORA:
            raise ApiError(404, "not_found", f"no fine-tuning job ftjob-{job_id} of this key's account")
        model = registry.model(self.node.chain.state, found.model)
        status = STATUS.get(found.status, "running")
        return {
            "id": f"ftjob-{job_id}", "object": "fine_tuning.job", "model": model.name if model else "",
            "created_at": found.created, "status": status,
            "fine_tuned_model": "0x" + found.result_hash.hex() if status == "succeeded" else None,
            "hyperparameters": {"n_epochs": found.options.get("steps"),
                                "learning_rate_multiplier": found.options.get("lr_ppm", 1000) / 1000},
            "training_file": None, "result_files": [], "trained_tokens": None, "finished_at": None,
            "error": {"code": str(found.status), "message": "no provider served it in time"
                      if found.status == JobStatus.REFUNDED else "its result was proven wrong", "param": None}
            if status in ("failed", "cancelled") else None,
            "vcoin": {"job": job_id, "status": str(found.status), "fee": found.fee, "units": found.units},
        }  # fmt: skip
