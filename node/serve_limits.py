"""Sizes of session-request frames, on the p2p protocol and over HTTP alike."""

from runtime.session_request import MAX_REQUEST

MAX_REQUEST_FRAME = MAX_REQUEST + 16 * 1024  # the request, its cheque and the envelope
MAX_ANSWER_FRAME = 64 * 1024 * 1024
