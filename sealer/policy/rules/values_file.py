"""values-file: each values file sealer renders is a regular file reached without a symlink,
holding YAML sealer can read (UTF-8, no alias bomb, not nested too deep).

sealer never reads or writes through a symlink (a pull request could point one at a runner's
credentials), so a values file or folder replaced by one stops `render` and `rotate`; this says
so before they run. A values file that does not exist yet is fine: `render` creates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer import repofiles
from sealer.config import Environment
from sealer.errors import BadInput
from sealer.policy import schema
from sealer.policy.model import ERROR, Context, Problem

ID = "values-file"
DESCRIPTION = "every values file is a regular file reached without a symlink, holding readable YAML"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        try:
            repofiles.load_yaml(ctx.root / cluster.values_file)
        except FileNotFoundError:
            continue
        except BadInput as err:
            fix = f"replace {cluster.values_file} with a regular YAML file (sealer never follows symlinks)"
            yield Problem(ID, env.name, ERROR, str(err), fix)
