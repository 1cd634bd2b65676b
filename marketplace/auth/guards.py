"""Coarse role checks that run before the request body is read.

Put the guard above `@blp.arguments` so that the public gets 401 and a signed-in user without
the role 403 before any validation; the service still checks object-level rights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from marketplace.auth.services import current_identity

F = TypeVar("F", bound=Callable[..., Any])


def requires(*roles: str) -> Callable[[F], F]:
    """Only signed-in users, and with `roles` only those roles."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            identity = current_identity()
            if roles:
                identity.require(*roles)
            else:
                identity.require_signed_in()
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


signed_in = requires()
bureau = requires("bureau_admin", "bureau_reviewer")
bureau_admin = requires("bureau_admin")
org_user = requires("org_admin", "org_member")
