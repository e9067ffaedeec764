"""The templates, policies and chart shipped with sealer (package data; the repo folders are the source).

They are plain folders wherever pip puts sealer (an editable install maps them to the repo's), so
the import system's own lookup finds them; `importlib.resources` would cost every command ~10 ms
of imports for the zip-file case sealer is never installed as.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    # `python -m sealer` (or `python -c`) run inside a source checkout imports the checkout's
    # `sealer/`, whose data folders sit beside it (setup.cfg's package_dir), not inside it. Only
    # there: beside an installed `sealer/` lies site-packages, where `templates/` or `policies/`
    # would be another distribution's.
    checkout = Path(__file__).resolve().parent.parent
    beside = checkout / package.rpartition(".")[2]
    if (checkout / "setup.cfg").is_file() and (beside / "__init__.py").is_file():
        return beside
    raise RuntimeError(f"sealer is installed without {package}: reinstall it")  # a broken install


def templates() -> Path:
    return _folder("sealer.templates")


def policies() -> Path:
    return _folder("sealer.policies")


def chart() -> Path:
    return _folder("sealer.chart")
