"""Candidate duplicate groups (`duplicates(rule:)`), for a "review duplicates" screen."""

from __future__ import annotations

import builtins

import strawberry

from contactql.schema.contacts import Contact
from contactql.schema.enums import publish
from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.workspace import duplicates
from contactql.store.workspace.duplicates import MAX_MEMBERS

DuplicateRule = publish(
    duplicates.DuplicateRule,
    "Which contacts count as one person, for `duplicates`.",
    {
        "EMAIL": "The same email, whatever their mobiles.",
        "MOBILE": "The same mobile, whatever their emails.",
        "NAME_AND_EMAIL": "The same email and the same first and last name (case-insensitive).",
    },
)


@strawberry.type(description="Contacts a match rule says are one person.")
class DuplicateGroup:
    key: builtins.list[str] = strawberry.field(description="What they share: [email], [mobile], or [email, first name, last name] in lower case.")
    size: int = strawberry.field(description="How many contacts (not deleted) share it.")
    contacts: builtins.list[Contact] = strawberry.field(description=f"The contacts, oldest first: at most {MAX_MEMBERS}.")

    @classmethod
    def of(cls, group: duplicates.DuplicateGroup) -> DuplicateGroup:
        return cls(key=list(group.key), size=group.size, contacts=[Contact.from_row(row) for row in group.contacts])


@connection("DuplicateGroupEdge", "A group of candidate duplicates and its cursor.", cursor="Pass as `after` to get the groups after this one.", node="The group.")
class DuplicateGroupEdge(Edge[DuplicateGroup]):
    pass


@connection(
    "DuplicateGroupConnection",
    "A page of candidate duplicate groups, in the order of what they share (Relay cursor connection).",
    edges="The groups of this page.",
    total_count="How many groups there are (counted only when asked for).",
)
class DuplicateGroupConnection(Connection[DuplicateGroupEdge]):
    pass
