"""How a page of contacts is ordered (`contacts(orderBy:)`, exports, segments): the fields and
directions, apart from the queries that use them (store/workspace/order.py) so that the schema's
enums load without them."""

from __future__ import annotations

import enum


class OrderField(enum.StrEnum):
    ID = "ID"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    EMAIL = "EMAIL"
    FIRST_NAME = "FIRST_NAME"
    LAST_NAME = "LAST_NAME"
    PROPERTY = "PROPERTY"
    RELEVANCE = "RELEVANCE"


class SortDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"
