"""Who is acting: the identity every service takes first."""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.errors import Forbidden, Unauthorized
from marketplace.reference import BUREAU_ROLES


@dataclass(frozen=True)
class Identity:
    user_id: int | None
    username: str
    role: str | None  # None for the public
    organization_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    @property
    def is_bureau(self) -> bool:
        return self.role in BUREAU_ROLES

    @property
    def label(self) -> str:
        return self.username

    def require(self, *roles: str) -> None:
        """401 for the public, 403 for a signed-in user without one of the roles."""
        if self.is_anonymous:
            raise Unauthorized("sign in with a bearer token")
        if roles and self.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")

    def require_signed_in(self) -> None:
        if self.is_anonymous:
            raise Unauthorized("sign in with a bearer token")

    def can_see_org(self, organization_id: int | None) -> bool:
        return self.is_bureau or (
            organization_id is not None and organization_id == self.organization_id
        )


ANONYMOUS = Identity(user_id=None, username="public", role=None)
SYSTEM = Identity(user_id=None, username="system", role="bureau_admin")


def system(job: str) -> Identity:
    """The identity scheduled jobs and imports act as, named after the job."""
    return Identity(user_id=None, username=f"system:{job}", role="bureau_admin")
