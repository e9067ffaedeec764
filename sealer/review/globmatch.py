"""Glob matching in time linear in the path. A pull request writes the globs review matches (an
ApplicationSet's generators, a plugin's discover rules): a regular expression of a dozen `.*`
backtracks for hours on a 40-character path, so each glob is run as a set of states instead,
each step from a set remembered (a glob meets thousands of similar paths in one review)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

ONE, STAR, FOLDERS = "one", "star", "folders"
MAX_REMEMBERED = 10_000  # steps kept per glob: a hostile glob's many sets cannot fill memory


def any_char(_: str) -> bool:
    return True


def not_slash(char: str) -> bool:
    return char != "/"


@dataclass(frozen=True)
class Atom:
    """One character (ONE), any run of them (STAR) that `fits`, or `(?:.*/)?` (FOLDERS)."""

    kind: str
    fits: Callable[[str], bool] = any_char
    literal: str | None = None  # a ONE that is this character alone


def literal(char: str) -> Atom:
    return Atom(ONE, char.__eq__, char)


class Glob:
    """`atoms` in a row; with `open_end`, a path below a match matches too (`(?:/.*)?`)."""

    def __init__(self, atoms: Sequence[Atom], open_end: bool = False) -> None:
        self._atoms = _merged(atoms)
        self._open_end = open_end
        self._needed = _literal_runs(self._atoms)
        self._start = self._closed({0})
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def fullmatch(self, text: str) -> bool:
        if any(run not in text for run in self._needed):  # most paths end here, cheaply
            return False
        end = len(self._atoms)
        states = self._start
        for char in text:
            if self._open_end and char == "/" and end in states:
                return True
            after = self._steps.get((states, char))
            if after is None:
                after = self._closed(self._step(states, char))
                if len(self._steps) < MAX_REMEMBERED:
                    self._steps[states, char] = after
            if not after:
                return False
            states = after
        return end in states

    def _step(self, states: frozenset[int], char: str) -> set[int]:
        after = set()
        for state in states:
            if state < 0:  # inside FOLDERS' `.*`, or at its `/`
                after.add(state)
                if char == "/":
                    after.add(-state)
            elif state < len(self._atoms):
                atom = self._atoms[state]
                if atom.kind != FOLDERS and atom.fits(char):
                    after.add(state if atom.kind == STAR else state + 1)
        return after

    def _closed(self, states: set[int]) -> frozenset[int]:
        """`states` and what each reaches without a character: past a STAR or FOLDERS, or into
        FOLDERS' `.*` (state `-(i + 1)` for the atom at `i`, leaving to `i + 1`)."""
        seen, todo = set(states), list(states)
        while todo:
            state = todo.pop()
            if 0 <= state < len(self._atoms) and self._atoms[state].kind != ONE:
                reached = (state + 1, -(state + 1)) if self._atoms[state].kind == FOLDERS else (state + 1,)
                for other in reached:
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
        return frozenset(seen)


def _literal_runs(atoms: Sequence[Atom]) -> list[str]:
    """The runs of literal characters every match holds, each whole."""
    runs, run = [], ""
    for atom in atoms:
        if atom.literal is not None:
            run += atom.literal
        else:
            runs.append(run)
            run = ""
    return [r for r in [*runs, run] if r]


def _merged(atoms: Sequence[Atom]) -> tuple[Atom, ...]:
    """`atoms` with each run of wildcards in a row as one: `.*.*` (or `.*(?:.*/)?`) matches what
    `.*` does, and each would be a state for every character (`{{x}}` 3,000 times: a second a path)."""
    merged: list[Atom] = []
    for atom in atoms:
        last = merged[-1] if merged else None
        if last is None or last.kind == ONE or atom.kind == ONE:
            merged.append(atom)
        elif last == atom:
            continue  # `[^/]*[^/]*`, `(?:.*/)?(?:.*/)?`
        elif _any_run(last) or _any_run(atom):
            merged[-1] = Atom(STAR)  # `.*` beside any other wildcard
        else:
            merged.append(atom)  # `[^/]*` beside `(?:.*/)?`: not one of them
    return tuple(merged)


def _any_run(atom: Atom) -> bool:
    return atom.kind == STAR and atom.fits is any_char
