"""What an HTTP header may carry, checked before a request is sent.

http.client refuses a header value holding a line break with a ValueError that quotes the value
whole, and one past latin-1 with a UnicodeEncodeError: for an Authorization header (a token
read from a file ending in a line break, say) that put a credential in exception text, which
client libraries pass on (botocore's HTTPClientError quotes it) or let out as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sealer.errors import BadInput

# Printable ASCII, spaces and tabs: every credential scheme's alphabet.
_SENDABLE = re.compile(r"[\t\x20-\x7e]*")
_CREDENTIALS = ("authorization", "x-amz-security-token", "x-vault-token")


def refuse_unsendable(headers: Mapping[str, object], where: str) -> None:
    """BadInput naming the header, never its value, when one cannot be sent as it is."""
    for name, value in headers.items():
        if not sendable(value.decode("latin-1") if isinstance(value, bytes) else str(value)):
            what = "credential" if str(name).lower() in _CREDENTIALS else f"{name} header"
            raise BadInput(
                f"{where}: the {what} holds a line break or a character a header cannot carry: not sent"
            )


def sendable(text: str) -> bool:
    """Whether every HTTP client sends `text` as a header value as it is."""
    return bool(_SENDABLE.fullmatch(text))
