"""The one error shape of payloads (`UserError`), and `answer`: a resolver's value or refusal
as a payload.

`userErrors` carry problems with the data (HTTP 200); `ApiError` (context.py) is for what is
not about the data and always has an `extensions.code`. Anything else raised in a resolver is
a bug and is masked as INTERNAL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import strawberry

from contactql.schema.enums import ErrorCode
from contactql.store.errors import Problem, StoreError
from contactql.store.model import InvalidProperty as InvalidPropertyRow


@strawberry.type(description="A problem with the data of a request: where it is, what kind, and a readable message.")
class UserError:
    field: list[str] = strawberry.field(description='Path to the input field, e.g. ["contact", "email"] or ["contacts", "3", "mobile"].')
    code: ErrorCode = strawberry.field(description="What kind of problem it is.")
    message: str = strawberry.field(description="A readable explanation.")

    @classmethod
    def from_problem(cls, problem: Problem, *prefix: str) -> UserError:
        return cls(field=[*prefix, *problem.path], code=ErrorCode(problem.code.value), message=problem.message)


def user_errors(problems: Iterable[Problem], *prefix: str) -> list[UserError]:
    return [UserError.from_problem(p, *prefix) for p in problems]


@strawberry.type(description="A property value that was not written, and why.")
class InvalidProperty:
    field_id: strawberry.ID | None = strawberry.field(description="The id of the property field the value was for, when one was found (not an id of this report: it has none).")
    name: str | None = strawberry.field(description="The property name as sent, or the field's name.")
    value: str | None = strawberry.field(description="The value that was refused.")
    reason: str = strawberry.field(description="Why it was refused.")

    @classmethod
    def from_row(cls, row: InvalidPropertyRow) -> InvalidProperty:
        return cls(field_id=None if row.id is None else strawberry.ID(row.id), name=row.name, value=row.value, reason=row.reason)


T = TypeVar("T")
P = TypeVar("P")


async def answer(call: Awaitable[T], of: Callable[[T], P], payload: Callable[..., P], *prefix: str) -> P:
    """A mutation's payload: `of(value)` when the resolver returns; when the store refuses
    (StoreError), `payload(userErrors=…)` — every other field of a payload defaults to null or
    empty. `prefix` places the problems' paths, e.g. under "input"."""
    try:
        value = await call
    except StoreError as error:
        return payload(user_errors=user_errors(error.problems, *prefix))
    return of(value)
