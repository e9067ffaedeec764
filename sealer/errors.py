"""The one expected-error family. The CLI turns these into one stderr line and an exit code."""

from __future__ import annotations

from typing import TypeVar

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 3
EXIT_PARTLY_DONE = 4
EXIT_INTERRUPTED = 130


class SealerError(Exception):
    """An expected failure: bad input, a refused operation, an unreachable service."""

    exit_code = EXIT_BAD_INPUT


class BadInput(SealerError):
    """The user's input (a file, an argument, a manifest) cannot be used."""


class ConflictingOptions(BadInput):
    """Options that exclude or need each other were given wrongly: one line, exit 2, in every command."""


class ConfigError(BadInput):
    """A configuration or policy file breaks its schema: `invalid config: <file>: <where>: <what>`,
    where `where` is the key path (or, for some files, the file itself)."""

    def __init__(self, where: str, what: str, file: str = "") -> None:
        self.file, self.where, self.what = file, where, what
        super().__init__(f"invalid config: {self.detail}")

    @property
    def detail(self) -> str:
        """The line without its `invalid config: ` prefix."""
        return ": ".join(part for part in (self.file, self.where, self.what) if part)

    def in_file(self: _Config, file: str) -> _Config:
        """This error naming the file it was found in (a file already named stays). A copy of its
        own type, with its own attributes: a subclass's caller still catches it as that."""
        if self.file:
            return self
        named = type(self).__new__(type(self))
        named.__dict__.update(vars(self))
        ConfigError.__init__(named, self.where, self.what, file)
        return named


_Config = TypeVar("_Config", bound=ConfigError)


class DecryptError(SealerError):
    """No available private key opens a sealed value."""


class BackendError(SealerError):
    """A key-store backend refused or could not be reached."""


class WriteUnconfirmed(BackendError):
    """A store was sent a write but what it then holds could not be confirmed (its read-back
    differs, or failed): the write may have landed, so undoing the run must undo it too."""


class WriteInFlight(WriteUnconfirmed):
    """A write given up on while still under way (the wall-clock request bound): it may land
    after any read of the store, so no read can show it absent, nor its undoing done."""


class InterruptedInFlight(KeyboardInterrupt):
    """Ctrl-C (pressed again, or the wait for the write ran out) left a write already sent still
    under way: like WriteInFlight it may land after any read or undoing, so the command is
    partly done (exit 4), never "interrupted, nothing changed" (130). The message names it."""

    exit_code = EXIT_PARTLY_DONE


class NotDeployed(SealerError):
    """#17: a key the ledger delivers that some cluster of the environment does not serve yet."""


class GitError(SealerError):
    """git refused (exit 2 semantics: the repo is not in a state sealer can work with)."""


class MissingCredential(BadInput):
    """#17: an environment's credential source names a variable (or profile) that is not there;
    the message names the environment and what is missing. Nothing was changed."""


class MissingExtra(BadInput):
    """An optional library is not installed; the message names the extra to install."""


class PartlyDone(SealerError):
    """A failure after something already landed (a commit, a pushed branch, a written key):
    the message says what landed and how to finish. Exit 4, never 2 ("nothing changed")."""

    exit_code = EXIT_PARTLY_DONE
