"""Inputs that once made the API answer 500 with a traceback (found by an
attack on a running node): each is now a 400 (or 404) naming the fault."""

import json
from typing import Any

import pytest
import trio

from node.api import _JOB_ID, _read_json, chat_messages
from node.api_fine_tuning import training_texts
from node.api_sessions import ApiError
from node.serve_http import serve_over_http


def _receive(body: bytes) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


@pytest.mark.parametrize("body", [b"[" * 100_000, b"{" * 100_000, b'{"a":' * 100_000])
def test_json_nested_too_deep_is_a_400(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        trio.run(_read_json, _receive(body))
    assert caught.value.status == 400


@pytest.mark.parametrize("data", [b"\xff\xfe", b"[" * 50_000, b'{"text": "a"}\n' + b"[" * 50_000])
def test_a_training_file_that_is_not_utf8_or_nests_too_deep_is_a_400(data: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        training_texts(data)
    assert caught.value.status == 400


@pytest.mark.parametrize("job", ["99999999999999999999999999", "9" * 5000, "\u00b2", "", "-1", "1 "])
def test_a_job_id_out_of_u64_or_not_ascii_digits_is_refused(job: str) -> None:
    assert not _JOB_ID.fullmatch(job) or int(job) >= 2**64


@pytest.mark.parametrize("body", [b"\x81\x91\x01\x01", b"\x91" * 3000, b"\xc1", b""])
def test_a_serve_request_that_is_not_one_is_a_400(body: bytes) -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    trio.run(serve_over_http, None, _receive(body), send)
    assert sent[0]["status"] == 400 and sent[1]["body"].startswith(b"not a serve request")


def test_a_chat_content_part_whose_text_is_not_a_string_is_a_400() -> None:
    for text in (5, None, ["a"]):
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        with pytest.raises(ApiError) as caught:
            chat_messages(messages)
        assert caught.value.status == 400, json.dumps(messages)
    parts = [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]
    assert chat_messages([{"role": "user", "content": parts}]) == [{"role": "user", "content": "ab"}]
