"""Key policy: rules that `sealer check` enforces and `sealer audit` reports against.

One module per rule under `sealer.policy.rules` (an ID, a DEFAULT config, a SCHEMA and a
`check()` that yields problems); `RULES` there names them all. `loader` merges the shipped
policies/default.yaml, a user's policy file and sealer.yaml's per-environment overrides.
"""
