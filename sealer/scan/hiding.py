"""A credential in a line sealer prints, hidden: a token pasted by mistake as a sealer.yaml key or
an argument is echoed by the error naming it, and error lines land in CI logs. What counts is
what `sealer scan` reports: the built-in policy's token rules, confirmed as a scan confirms them."""

from __future__ import annotations

import bisect
import functools
import re

from sealer.errors import SealerError
from sealer.scan import engine, rules


@functools.lru_cache(maxsize=1)
def _token_rules() -> tuple[rules.Policy, tuple[rules.Rule, ...]]:
    """The built-in token rules a scan applies to any file (one for a `.netrc` read `password
    (not shown)` as a password), but sealer's own keys', which `apikey.redact` shows as
    `slr_<env>_[redacted]` (naming the environment) in every line sealer prints."""
    policy = rules.load()
    own = ("sealer-api-key", "sealer-api-key-base64")
    return policy, tuple(
        rule for rule in policy.rules if rule.kind == "token" and not rule.conditional and rule.id not in own
    )


def hide_credentials(text: str) -> str:
    """`text` with each credential a built-in token rule finds in it as `<rule-id: not shown>`,
    which says what kind of thing stood there (`<github-token: not shown>`). When the rules
    cannot be loaded (a broken install) nothing of `text` is shown: no credential could be found
    in it, and an error raised here, while an error line is shown, was a traceback quoting it."""
    try:
        policy, tokens = _token_rules()
    except (SealerError, OSError, RuntimeError) as err:  # RuntimeError: resources' broken install
        return f"<not shown: the rules finding credentials could not be loaded ({err}): reinstall sealer>"
    data = text.encode("utf-8", "surrogatepass")  # an error line may quote a lone surrogate
    # Again with each `.` a space: a key is shown after its path (`environments.staging.KEY`),
    # and a rule that looks behind its token (an Azure secret's `Q~`) would not see it alone.
    seen_as = (data, data.replace(b".", b" "))
    hits = sorted(
        _span(seen, runs, hit)
        for seen in seen_as
        for runs in (_Runs(seen),)
        for hit in engine.scan(seen, tokens, policy)
    )
    parts, done = [], 0
    for start, end, rule_id in hits:
        if start >= done:  # one inside another (a JWT in a URL's password) is hidden with it
            parts.append(data[done:start] + f"<{rule_id}: not shown>".encode())
        done = max(done, end)
    return b"".join([*parts, data[done:]]).decode("utf-8", "surrogatepass")


# What a token's text is made of, bar the `.` that joins the parts of a setting's path.
_GLUED = re.compile(rb"[A-Za-z0-9_~+/=-]+")
_BLOCK_END = re.compile(rb"-----END[ A-Z0-9]*-----")


class _Runs:
    """Where each run of token text (`_GLUED`) in `data` starts and ends, found by bisection: a
    walk from each hit to its run's ends cost the run's length per hit, and a line of thousands
    of keywords back to back (`ABSK/ABSK/…`, each a hit) took a minute for 64 KiB."""

    def __init__(self, data: bytes) -> None:
        spans = [match.span() for match in _GLUED.finditer(data)]
        self.starts = [start for start, _ in spans]
        self.ends = [end for _, end in spans]

    def around(self, at: int) -> tuple[int, int] | None:
        """(start, end) of the run holding offset `at`; None when it is in none."""
        index = bisect.bisect_right(self.starts, at) - 1
        if at >= 0 and index >= 0 and at < self.ends[index]:
            return self.starts[index], self.ends[index]
        return None


def _span(data: bytes, runs: _Runs, hit: engine.Hit) -> tuple[int, int, str]:
    """(start, end, rule id) of a hit: the run of text its match starts (a rule may look behind
    its keyword: an Azure secret's first four characters come before its `Q~`) through its
    secret, and a block's (a PEM key's, whose secret is its first line) through its END line,
    or the rest of the text when none follows."""
    before = runs.around(hit.start - 1)
    start = before[0] if before else hit.start
    found = data.find(hit.secret, hit.start)
    if found >= 0:
        end = found + len(hit.secret)
    else:  # the rule reads the secret as another spelling of it: up to the next space
        end = hit.start + len(data[hit.start :].split(None, 1)[0])
    if b"\n" in data[hit.start : end]:
        block_end = _BLOCK_END.search(data, end)
        return start, block_end.end() if block_end else len(data), hit.rule.id
    after = runs.around(end)
    return start, after[1] if after else end, hit.rule.id
