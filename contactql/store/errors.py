"""What the store reports as data rather than as a fault.

    StoreError            a request the store refuses; carries one or more Problems
     ├── Invalid          the input cannot be accepted         INVALID_INPUT, INVALID_EMAIL, …
     ├── NotFound         a referenced row does not exist      NOT_FOUND, LIST_NOT_FOUND, …
     └── Conflict         the write would break a rule         DUPLICATE_IDENTITY, …

A Problem is one (field path, code, message); the schema turns each into a GraphQL `UserError`
(schema/errors.py: `answer`, `UserError.from_problem`).
Per-item problems of an upsert are not raised at all: they come back in the item's result, so
one bad item never stops its neighbours. Anything else that escapes the store is a bug and is
masked as INTERNAL by the schema.
"""

from __future__ import annotations

import dataclasses
import enum


class ErrorCode(enum.StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"
    IDENTITY_REQUIRED = "IDENTITY_REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    LIST_NOT_FOUND = "LIST_NOT_FOUND"
    COMPANY_NOT_FOUND = "COMPANY_NOT_FOUND"
    AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    CONTACT_DELETED = "CONTACT_DELETED"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    TOO_MANY_EXTERNAL_URLS = "TOO_MANY_EXTERNAL_URLS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    FORBIDDEN = "FORBIDDEN"
    CONFIRMATION_LIMIT = "CONFIRMATION_LIMIT"
    CAPTCHA_FAILED = "CAPTCHA_FAILED"
    IN_USE = "IN_USE"
    SUPPRESSED = "SUPPRESSED"
    INTERNAL = "INTERNAL"


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    path: tuple[str, ...]
    code: ErrorCode
    message: str

    def under(self, *prefix: str) -> Problem:
        """The same problem, located inside `prefix` (e.g. ("contacts", "3"))."""
        return Problem((*prefix, *self.path), self.code, self.message)

    def to_json(self) -> dict[str, object]:
        return {"path": list(self.path), "code": self.code.value, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Problem:
        return cls(tuple(data["path"]), ErrorCode(data["code"]), str(data["message"]))  # type: ignore[arg-type]


class StoreError(Exception):
    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    def __reduce__(self) -> tuple[type[StoreError], tuple[Problem, ...]]:
        # Pickled by its problems, not its message: a CSV refused in the helper process
        # (runtime.py) crosses back to the server as the same error.
        return type(self), tuple(self.problems)


class Invalid(StoreError):
    @classmethod
    def at(cls, path: tuple[str, ...], message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> Invalid:
        return cls(Problem(path, code, message))


class NotFound(StoreError):
    @classmethod
    def at(cls, path: tuple[str, ...], message: str, code: ErrorCode = ErrorCode.NOT_FOUND) -> NotFound:
        return cls(Problem(path, code, message))


class Conflict(StoreError):
    pass
