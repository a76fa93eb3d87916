"""A referenced input's shape, read from its msgpack bytes before anything
is decoded: a prompt is one string, a text list one array of strings and
nothing else. Decoding first would let a few megabytes of nested empty
arrays become gigabytes of Python objects in the node's own process."""

STR_FIX = range(0xA0, 0xC0)
STR_SIZED = {0xD9: 1, 0xDA: 2, 0xDB: 4}  # marker -> bytes of its length
ARRAY_FIX = range(0x90, 0xA0)
ARRAY_SIZED = {0xDC: 2, 0xDD: 4}


def _length(raw: bytes, at: int, width: int) -> tuple[int, int]:
    if at + width > len(raw):
        raise ValueError("truncated")
    return int.from_bytes(raw[at : at + width], "big"), at + width


def _skip_str(raw: bytes, at: int) -> int:
    if at >= len(raw):
        raise ValueError("truncated")
    marker = raw[at]
    if marker in STR_FIX:
        size, at = marker - 0xA0, at + 1
    elif marker in STR_SIZED:
        size, at = _length(raw, at + 1, STR_SIZED[marker])
    else:
        raise ValueError("every item must be a string")
    if at + size > len(raw):
        raise ValueError("truncated")
    return at + size


def check_shape(kind: str, raw: bytes, max_texts: int) -> None:
    """ValueError unless `raw` is one string (inference) or one array of at
    most `max_texts` strings (the other kinds), with nothing after it."""
    if kind == "inference":
        end = _skip_str(raw, 0)
    else:
        if not raw:
            raise ValueError("empty")
        marker = raw[0]
        if marker in ARRAY_FIX:
            count, at = marker - 0x90, 1
        elif marker in ARRAY_SIZED:
            count, at = _length(raw, 1, ARRAY_SIZED[marker])
        else:
            raise ValueError(f"an {kind} input is a list of texts")
        if not 0 < count <= max_texts:
            raise ValueError(f"an {kind} input is a list of 1 to {max_texts} texts")
        for _ in range(count):
            at = _skip_str(raw, at)
        end = at
    if end != len(raw):
        raise ValueError("trailing bytes")
