"""Schemathesis against the OpenAPI document, as the public and with a token of each role.

No generated request may produce a 5xx, and every response must match its documented schema.
CI runs a few examples per operation; `scripts/fuzz_api.sh 200`
runs a longer campaign.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from marketplace.app import create_app

# 20 a test in CI (about 10 s more than 6): 20 found the policy lists' TypeError, 6 did not.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
IDENTITIES = ("public", "bureau_admin", "bureau_reviewer", "org_admin", "org_member")

# The document is read from an app of its own; the requests go to the test's app and database.
_schema_app = create_app({"DATABASE_URL": "sqlite:///" + os.path.join(
    tempfile.mkdtemp(prefix="openapi-"), "schema.sqlite3")})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _schema_app)


@pytest.fixture
def identities(as_role) -> dict[str, dict[str, str]]:
    """One user per role for the whole test (not per generated example)."""
    return {name: ({} if name == "public" else as_role(name)) for name in IDENTITIES}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case, app, identities) -> None:
    for headers in identities.values():
        case.call_and_validate(app=app, headers={**(case.headers or {}), **headers},
                               checks=[not_a_server_error, response_schema_conformance])
