"""consort: a Python client for consort services.

Pure Python over the standard library and python3-cryptography and
python3-cbor2 (Debian packages). docs/python.md describes it.

    from consort import Client, Member, verify_receipt, verify_statement
"""

from .client import Client, HttpError, Member, Response
from .e2e import Policy, verify_statement
from .errors import ConsortError
from .gov import member_id, sign_request
from .receipt import Receipt, verify_receipt

__all__ = ["Client", "ConsortError", "HttpError", "Member", "Policy", "Receipt", "Response",
           "member_id", "sign_request", "verify_receipt", "verify_statement"]
