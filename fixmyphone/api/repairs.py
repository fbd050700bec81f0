"""Service requests: create, list, read, status and its history, the message thread."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from flask import Response, jsonify

from ..database import read_connection
from ..domain_errors import Forbidden
from ..extensions import db
from ..models import ServiceRequest
from ..services import drop_off, messages, repairs, tokens
from ..services.billing import balances, estimates, totals
from ..workflow import label
from .base import Blueprint, bearer_token, caller
from .schemas import (
    MessageCreateSchema,
    MessageListSchema,
    MessageSchema,
    ServiceRequestCreateSchema,
    ServiceRequestDetailSchema,
    ServiceRequestListArgs,
    ServiceRequestPageSchema,
    ServiceRequestSchema,
    StatusMoveSchema,
    StatusSchema,
)

blp = Blueprint("api-service-requests", __name__, url_prefix="/api", description="Repair requests.")

REQUEST_ID = "<id:request_id>"


# ---------------------------------------------------------------- shapes


def request_body(request: ServiceRequest) -> dict:
    """A request as the contract shows it after creation and in lists."""
    return {
        "id": request.id,
        "reference": request.reference,
        "status": request.status,
        "status_label": label(request.status),
        "device_type": request.device_type,
        "brand": request.brand,
        "model": request.model,
        "imei": request.imei,
        "issue_description": request.issue_description,
        "preferred_time": request.preferred_time,
        "estimated_completion": request.estimated_completion,
        "created_at": request.created_at,
    }


def status_response(view: dict) -> Response:
    """A status (``repairs.status_view``) as StatusSchema dumps it, written out: the schema
    documents the answer, and this hottest of reads skips marshmallow's per-field walk."""
    return jsonify(
        {
            **view,
            "estimated_completion": _iso(view["estimated_completion"]),
            "history": [{**entry, "at": _iso(entry["at"])} for entry in view["history"]],
        }
    )


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.isoformat()


def _technician(request: ServiceRequest):
    return {"name": request.technician.first_name} if request.technician else None


def appointment_body(appointment) -> dict:
    """An appointment as the API shows it."""
    return {
        "id": appointment.id,
        "service_request_id": appointment.service_request_id,
        "start": appointment.start,
        "end": appointment.end,
        "status": appointment.status,
        "cancel_reason": appointment.cancel_reason,
    }


def message_body(message) -> dict:
    """One message of a thread."""
    return {
        "id": message.id,
        "body": message.body,
        "internal": message.is_internal,
        "from_staff": message.sender.is_staff,
        "sender": {"name": message.sender.first_name},
        "created_at": message.created_at,
    }


# ---------------------------------------------------------------- endpoints


@blp.route("/service-request", methods=["POST"])
@blp.authenticated
@blp.arguments(ServiceRequestCreateSchema)
@blp.response(201, ServiceRequestSchema)
@blp.errors(400, 403, 413)
def create_request(args):
    """Open a repair request (customers). An IMEI must pass its Luhn check."""
    me = caller()
    if me.is_staff:
        raise Forbidden("Service requests are opened by customers.")
    request = repairs.create_service_request(me, **args)
    db.session.commit()
    return request_body(request)


@blp.route("/service-request", methods=["GET"])
@blp.authenticated
@blp.arguments(ServiceRequestListArgs, location="query")
@blp.response(200, ServiceRequestPageSchema)
def list_requests(args):
    """My requests, newest first, one page at a time (technicians: the repairs assigned to
    them; admins and super admins: every request)."""
    me = caller()
    stmt = (
        sa.select(ServiceRequest)
        .where(repairs.visible_to(me))
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
    )
    if args.get("status"):
        stmt = stmt.where(ServiceRequest.status == args["status"])
    page = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False)
    return {
        "items": [request_body(r) for r in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }


@blp.route(f"/service-request/{REQUEST_ID}", methods=["GET"])
@blp.authenticated
@blp.response(200, ServiceRequestDetailSchema)
@blp.errors(404)
def get_request(request_id):
    """One request with its technician and current appointment."""
    request = repairs.get_for(caller(), request_id)
    appointment = drop_off.active_appointment(request)
    return {
        **request_body(request),
        "customer": {"id": request.customer.id, "full_name": request.customer.full_name},
        "technician": _technician(request),
        "appointment": appointment_body(appointment) if appointment else None,
        "updated_at": request.updated_at,
        "estimate": estimates.api_body(request),
        "balance_due": totals.money(balances.balance_due(request)),
    }


@blp.route(f"/service-request/{REQUEST_ID}/status", methods=["GET"])
@blp.bearer
@blp.response(200, StatusSchema)
@blp.errors(404)
def get_status(request_id):
    """Where a repair is, with its public history oldest first (starting with pending)."""
    # Apps poll this. Its whole database work is two reads, so they run in Core on a pooled
    # connection outside the session and any transaction, the caller checked with the same
    # rules as ``authenticated`` but without loading an ORM user.
    with read_connection() as connection:
        me = tokens.caller_for_access_token(bearer_token(), connection)
        return status_response(repairs.status_view(me, request_id, connection))


@blp.route(f"/service-request/{REQUEST_ID}/status", methods=["POST"])
@blp.authenticated
@blp.arguments(StatusMoveSchema)
@blp.response(200, StatusSchema)
@blp.errors(400, 403, 404, 409, 413)
def move_request(args, request_id):
    """Move a repair along the workflow (the assigned technician, an admin, a super admin).

    A move the workflow does not allow answers 409 naming the allowed next statuses.
    """
    me = caller()
    request = repairs.get_for(me, request_id)
    repairs.move_by(
        me,
        request,
        args["status"],
        args.get("note"),
        estimated_completion=args.get("estimated_completion"),
    )
    db.session.commit()
    return status_response(repairs.status_view(me, request.id))


@blp.route(f"/service-request/{REQUEST_ID}/messages", methods=["GET"])
@blp.authenticated
@blp.response(200, MessageListSchema)
@blp.errors(404)
def list_messages(request_id):
    """The repair's message thread, oldest first; marks the other side's messages read."""
    me = caller()
    request = repairs.get_for(me, request_id)
    items = [message_body(m) for m in messages.thread(request, me)]
    messages.mark_read(request, me)
    db.session.commit()
    return {"items": items}


@blp.route(f"/service-request/{REQUEST_ID}/messages", methods=["POST"])
@blp.authenticated
@blp.arguments(MessageCreateSchema)
@blp.response(201, MessageSchema)
@blp.errors(400, 403, 404, 413)
def post_message(args, request_id):
    """Write in the repair's thread; staff may write internal notes (`internal: true`)."""
    me = caller()
    request = repairs.get_for(me, request_id)
    message = messages.post_message(request, me, args["body"], internal=args["internal"])
    db.session.commit()
    return message_body(message)
