"""The GraphQL schema: Strawberry types, inputs, enums and payloads (no I/O of its own).

`build_schema` is the one place the schema is assembled, with its hardening (hardening.py).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from contactql.schema.hardening import extensions
from contactql.schema.root import Mutation, Query, Subscription


class ContactQLSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Unexpected errors are logged, with the request id, where they are masked
        # (hardening.ErrorMasking); the rest are the client's and do not belong in the server log.
        return None


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    return ContactQLSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(introspection=introspection),
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


__all__: list[Any] = ["build_schema", "export_sdl"]
