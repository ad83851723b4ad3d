"""Scopes as Strawberry permissions: a refusal is a GraphQL error with code FORBIDDEN."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from contactql.context import ApiError, Info


class _Scoped(BasePermission):
    error_class = ApiError
    error_extensions = {"code": "FORBIDDEN"}


class CanWrite(_Scoped):
    message = "this API key has scope read: it cannot run mutations"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.can_write


class CanSubscribe(_Scoped):
    """subscribeContact and confirmContact: a write key, or a website form's publishable key."""

    message = "this API key has scope read: it cannot run mutations"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.can_write or info.context.principal.is_publishable


class IsAdmin(_Scoped):
    message = "only an API key with scope admin can do this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.is_admin
