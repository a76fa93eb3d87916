"""Label values a peer can influence, kept few.

Every distinct label value is a time series held for the life of the
process. Model names are chosen by whoever registers a model, so a label
takes the first `limit` values it sees and folds the rest into "other":
registering a thousand models costs their fees and this node at most
`limit` series per family.
"""

OTHER = "other"
UNKNOWN = "unknown"
MAX_CHARS = 64  # a registered name may be long; a label stays readable


class BoundedLabel:
    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: object) -> str:
        text = str(value)[:MAX_CHARS] if value not in (None, "") else UNKNOWN
        if text in self.seen:
            return text
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(text)
        return text
