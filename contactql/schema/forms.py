"""What a publishable key (a website form's, `cql_pub_…`) may run: subscribeContact and
confirmContact, asking only whether the request was accepted.

Checked on the validated document, before anything runs (limits.RateLimit calls it, as every
request passes there; an extension of its own would cost every request): no query, not even
`__schema` or `__typename`, no other mutation, and no field of the payload that could tell
whether the address was already known (`contact`, `outcome`, `changedFields`, …).
"""

from __future__ import annotations

from graphql import FieldNode, OperationDefinitionNode, OperationType

PUBLISHABLE_ONLY = "a publishable key (a website form's) runs subscribeContact and confirmContact only: use a secret key for anything else"
FORM_MUTATIONS = frozenset({"subscribeContact", "confirmContact"})
FORM_ANSWER = frozenset({"accepted", "confirmationPending", "userErrors", "__typename"})


def form_refusal(operation: OperationDefinitionNode | None) -> str | None:
    """Why a publishable key may not run `operation`; None when it may."""
    if operation is None or operation.operation is not OperationType.MUTATION:
        return PUBLISHABLE_ONLY
    if len(operation.selection_set.selections) > 1:  # 30 aliases would be 30 subscriptions a request
        return "a publishable key runs one subscribeContact or confirmContact a request"
    for root in operation.selection_set.selections:
        if not isinstance(root, FieldNode) or root.name.value not in FORM_MUTATIONS:
            return PUBLISHABLE_ONLY
        for field in root.selection_set.selections if root.selection_set else ():
            if not isinstance(field, FieldNode) or field.name.value not in FORM_ANSWER:
                asked = field.name.value if isinstance(field, FieldNode) else "a fragment"
                return f"a publishable key's answer says only whether the request was accepted: select accepted, confirmationPending and userErrors (not {asked})"
    return None
