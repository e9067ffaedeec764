"""Test helpers, one home for each (the root conftest loads the fixture modules as plugins).

- `support.git`: the one way tests run git (`git`, `git_bytes`, `commit_all`, `head`,
  `branch`) and make an empty repo (`init_repo`), always with a test identity.
- `support.isolation`: HOME, global git config, identity and services' settings of the test
  process (`isolate`, `isolated`, `IDENTITY`).
- `support.cli`: the CLI in process (`sealer`, `invoke`, `run_main`, `Run`), the one-line error
  check, the installed `sealer` script of this interpreter (`SEALER_SCRIPT`), and `in_dir`
  (chdir through `monkeypatch.chdir`).
- Repo builders: `env_repos` (init/config/pins/render), `repos` (rotation, review, diff
  driver), `policy_repos` (policy, audit), `backend_repos` (external key stores), `chart`;
  `rotated_repos`, fixtures a test module imports by name (a two-environment repo, rotated once).
- Servers and stores: `fake_http`, `fake_auth0`, `fake_kube`, `fake_vault`, `http_stores`,
  `sql_stores`.
"""
