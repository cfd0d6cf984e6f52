"""The one exception the package raises for anything it refuses."""


class ConsortError(Exception):
    """A refusal with a kind and a message that says what was wrong.

    kind is one of: MALFORMED (does not parse, or parts that do not fit
    together), UNSUPPORTED, TOO_LARGE, BAD_CERTIFICATE, EXPIRED,
    BAD_SIGNATURE, POLICY (another claims digest, txid, nonce, code id ...
    than expected), HTTP (the service answered with an error), IO (no answer),
    TIMEOUT, INVALID_ARGUMENT (a caller's mistake).
    """

    def __init__(self, kind, message):
        super().__init__(f"{kind.lower()}: {message}")
        self.kind = kind
        self.message = message


def fail(kind, message):
    raise ConsortError(kind, message)


def ensure(cond, kind, message):
    if not cond:
        raise ConsortError(kind, message)
