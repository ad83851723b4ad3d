"""Erased identities kept from coming back (store/workspace/erase.py), as `decide` applies them.

An item is SKIPPED with SUPPRESSED when it names an erased identity, or when it would write to
a contact whose own identity is erased — a re-subscription waiting for its confirmation,
which an update by id must not fill in meanwhile. Fresh consent lets it through: a subscription
of that email (its confirmation lifts the suppression: store/workspace/subscribe.py) or an
admin's overrideSuppression (lifted in this transaction: flush.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from contactql.store.errors import ErrorCode, Problem
from contactql.store.workspace.erase import IDENTITIES, SUPPRESSED_MESSAGE, identity_digest

if TYPE_CHECKING:
    from contactql.store.upsert.chunk import ChunkState, Work

_GRAPHQL_NAMES = {"external_id": "externalId", "email": "email", "mobile": "mobile"}


def item_problem(state: ChunkState, work: Work) -> Problem | None:
    """The item names an erased identity without fresh consent."""
    hits = [(column, digest) for column, _ in IDENTITIES if (value := work.item.values.get(column)) and (digest := identity_digest(value)) in state.suppressed]
    if not hits:
        return None
    if work.options.override_suppression:
        state.lifted.update(digest for _, digest in hits)
        return None
    if work.options.subscription is not None:  # vouches for the email only, once its owner confirms
        hits = [hit for hit in hits if hit[0] != "email"]
        if not hits:
            return None
    return Problem((_GRAPHQL_NAMES[hits[0][0]],), ErrorCode.SUPPRESSED, SUPPRESSED_MESSAGE)


def target_problem(state: ChunkState, work: Work, targets: Sequence[int]) -> Problem | None:
    """The item would write to a contact whose own identity is erased (found by id, or by
    another identity) without fresh consent."""
    hits = [
        (cid, column, digest)
        for cid in targets
        for column, _ in IDENTITIES
        if (value := state.rows[cid][column]) and (digest := identity_digest(value)) in state.suppressed
    ]
    if not hits or work.options.subscription is not None:
        return None
    if work.options.override_suppression:
        state.lifted.update(digest for _, _, digest in hits)
        return None
    cid, column, _ = hits[0]
    return Problem((), ErrorCode.SUPPRESSED, f"contact {cid}'s {_GRAPHQL_NAMES[column]} is suppressed: {SUPPRESSED_MESSAGE}")
