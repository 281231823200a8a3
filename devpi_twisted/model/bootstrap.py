"""What a new server starts with: the root user and the root/pypi mirror."""

from devpi_twisted.model import keys, users
from devpi_twisted.model.acl import ROOT
from devpi_twisted.model.indexes import root_pypi_config
from devpi_twisted.model.state import StateWriter


def bootstrap(txn: StateWriter, root_pwhash: str, now: float) -> None:
    """Create C{root} (with the given password hash) and C{root/pypi}."""
    users.create_user(txn, ROOT, root_pwhash, {}, now)
    txn.set(keys.index(ROOT, "pypi"), root_pypi_config())
