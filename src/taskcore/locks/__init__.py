"""Dataset locks: leases with fencing tokens, kept in a store (docs/locks.md)."""

from taskcore.locks.lease import (
    Grant,
    Lease,
    Released,
    decide_acquire,
    decide_release,
    decide_renew,
    live_lease,
    require_holder,
)
from taskcore.locks.manager import DEFAULT_TTL, LEASES, TOKENS, LockManager

__all__ = [
    "DEFAULT_TTL",
    "LEASES",
    "TOKENS",
    "Grant",
    "Lease",
    "LockManager",
    "Released",
    "decide_acquire",
    "decide_release",
    "decide_renew",
    "live_lease",
    "require_holder",
]
