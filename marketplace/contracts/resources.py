from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from marketplace.api import SelectPage
from marketplace.auth.guards import bureau, org_user, signed_in
from marketplace.auth.services import current_identity
from marketplace.contracts import idempotency, services
from marketplace.contracts.schemas import (
    AmendIn,
    CancelIn,
    ContractIn,
    ContractOut,
    ContractQuery,
    PaymentIn,
    PaymentOut,
    RejectIn,
    VersionOut,
)

blp = Blueprint("contracts", __name__, url_prefix="/api/v1/contracts",
                description="Technology contracts (技术合同): recording, registration, payments")

# The answers stored under an idempotency key, dumped here rather than by @blp.response; one
# instance each, as @blp.response keeps its own (a schema's fields are copied when it is made).
CONTRACT_OUT, PAYMENT_OUT = ContractOut(), PaymentOut()

CONFLICT = "not allowed in the contract's current state (problem names `current_state` and " \
           "`allowed_actions`)"


def readable_contract(view: Callable[..., Any]) -> Callable[..., Any]:
    """404 for a contract the caller may not read, before its body is read (below the guard)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        services.get(current_identity(), kwargs["contract_id"])
        return view(*args, **kwargs)

    return wrapper


def _idempotent(status: int, produce: Any, location: Any = None) -> Response:
    """Run `produce` once per Idempotency-Key and answer with its (possibly replayed) body."""
    actor = current_identity()
    request_hash = idempotency.fingerprint(request.method, request.path,
                                           request.get_json(silent=True))
    code, body, replayed = idempotency.run_once(
        actor, request.headers.get(idempotency.HEADER), request_hash,
        lambda: (status, produce()),
    )
    response = current_app.json.response(body)
    response.status_code = code
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if location is not None and "id" in body:
        response.headers["Location"] = location(body)
    return response


@blp.route("")
class Contracts(MethodView):
    @signed_in
    @blp.arguments(ContractQuery(), location="query")
    @blp.response(200, ContractOut(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """List the contracts you may read (the bureau: all; an organisation: its own)"""
        return services.query(current_identity(), filters)

    @org_user
    @blp.arguments(ContractIn())
    @blp.response(201, ContractOut)
    @blp.doc(parameters=[idempotency.HEADER_DOC])
    @blp.alt_response(403, description="your organisation is neither the seller nor the buyer")
    def post(self, data: dict[str, Any]) -> Any:
        """Record a draft contract (members of the seller or the buyer), idempotently"""
        return _idempotent(
            201, lambda: CONTRACT_OUT.dump(services.record_contract(current_identity(), data)),
            location=lambda body: url_for("contracts.ContractItem", contract_id=body["id"]),
        )


@blp.route("/<int:contract_id>")
class ContractItem(MethodView):
    @signed_in
    @blp.response(200, ContractOut)
    def get(self, contract_id: int) -> Any:
        """Read one contract"""
        return services.get(current_identity(), contract_id)


@blp.route("/<int:contract_id>/versions")
class ContractVersions(MethodView):
    @signed_in
    @blp.response(200, VersionOut(many=True))
    def get(self, contract_id: int) -> Any:
        """Every version of the terms, with who changed them, when and why"""
        return services.versions(current_identity(), contract_id)


def _step(action: str, data: dict[str, Any] | None = None, *, contract_id: int) -> Any:
    return services.act(current_identity(), contract_id, action, data)


@blp.route("/<int:contract_id>/confirm")
class Confirm(MethodView):
    @org_user
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, contract_id: int) -> Any:
        """The buyer confirms a draft"""
        return _step("confirm", contract_id=contract_id)


@blp.route("/<int:contract_id>/submit")
class Submit(MethodView):
    @org_user
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, contract_id: int) -> Any:
        """The seller submits a confirmed contract for registration (卖方登记)"""
        return _step("submit", contract_id=contract_id)


@blp.route("/<int:contract_id>/register")
class Register(MethodView):
    @bureau
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, contract_id: int) -> Any:
        """Register a submitted contract (认定登记): it gets its registration number"""
        return _step("register", contract_id=contract_id)


@blp.route("/<int:contract_id>/reject")
class Reject(MethodView):
    @bureau
    @blp.arguments(RejectIn())
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, data: dict[str, Any], contract_id: int) -> Any:
        """Reject a submitted contract, with a reason code and a note"""
        return _step("reject", data, contract_id=contract_id)


@blp.route("/<int:contract_id>/amend")
class Amend(MethodView):
    @bureau
    @blp.arguments(AmendIn())
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, data: dict[str, Any], contract_id: int) -> Any:
        """Amend a registered contract (变更): a new version; the old ones stay readable"""
        return _step("amend", data, contract_id=contract_id)


@blp.route("/<int:contract_id>/cancel")
class Cancel(MethodView):
    @bureau
    @blp.arguments(CancelIn())
    @blp.response(200, ContractOut)
    @blp.alt_response(409, description=CONFLICT)
    def post(self, data: dict[str, Any], contract_id: int) -> Any:
        """Cancel a registered contract (注销), with when and why"""
        return _step("cancel", data, contract_id=contract_id)


@blp.route("/<int:contract_id>/payments")
class Payments(MethodView):
    @signed_in
    @blp.response(200, PaymentOut(many=True))
    @blp.paginate(SelectPage)
    def get(self, contract_id: int) -> Any:
        """The payments (到账) of a contract, by date"""
        return services.payments_query(current_identity(), contract_id)

    @signed_in
    @readable_contract
    @blp.arguments(PaymentIn())
    @blp.response(201, PaymentOut)
    @blp.doc(parameters=[idempotency.HEADER_DOC])
    @blp.alt_response(409, description="the contract takes no payments in its state")
    def post(self, data: dict[str, Any], contract_id: int) -> Any:
        """Record a payment (the seller, the buyer or the bureau); the sum never passes the total"""
        return _idempotent(201, lambda: PAYMENT_OUT.dump(
            services.add_payment(current_identity(), contract_id, data)))
