"""The rotation engine: `sealer rotate`, its deployed and abandoned phases, and `keys revoke`.

plan.py         what a rotation writes (targets, keys, sealing, rendering); no side effects
transaction.py  the file transaction: temps, journal, renames, the commit, the undo
stores.py       key-store synchronisation per phase (register, accept, activate, revoke)
phases.py       the phases as commands: rotate, resume, finish (deployed), abandon, revoke
"""
