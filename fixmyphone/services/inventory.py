"""Spare parts stock: receive, reserve for a repair, consume, release; a ledger row per change.

Stock never goes negative, even with two staff taking the last unit at once: every change is
one conditional UPDATE (``... WHERE on_hand - reserved >= :q``) whose row count says whether it
won, backed by the check constraints on ``parts``.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from ..domain_errors import Conflict, ValidationFailed
from ..extensions import db
from ..labels import MOVEMENT, label
from ..models import (
    ADMIN_ROLES,
    MovementKind,
    Part,
    RepairStatus,
    RequestPart,
    RequestPartStatus,
    ServiceRequest,
    StockMovement,
    User,
    utcnow,
)
from . import audit, notifications

# The ledger's one sign convention. ``StockMovement.quantity`` is the signed change to on-hand
# stock (receive +, return +, consume -, sale -, adjust +/-); reserve and release leave on-hand
# stock alone and record the signed change to what is reserved (reserve +, release -). A part
# fitted from its reservation is two rows: the reservation released, then the part consumed.
ON_HAND_SIGNS = {
    MovementKind.RECEIVE: 1,
    MovementKind.RETURN: 1,
    MovementKind.CONSUME: -1,
    MovementKind.SALE: -1,
    MovementKind.ADJUST: 1,
}
RESERVED_SIGNS = {MovementKind.RESERVE: 1, MovementKind.RELEASE: -1}


def movement_label(kind: str) -> str:
    """A ledger row's kind in words."""
    return label(MOVEMENT, kind)


def movement_changes(movement: StockMovement) -> tuple[Optional[int], Optional[int]]:
    """(change to on hand, change to reserved) of a ledger row; None where it changes nothing."""
    if movement.kind in RESERVED_SIGNS:
        return None, movement.quantity
    return movement.quantity, None


def _positive(quantity: int) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValidationFailed(
            "The quantity must be a positive whole number.", fields={"quantity": ["Must be > 0."]}
        )
    return quantity


def _apply(part: Part, where: sa.ColumnElement, **values) -> Optional[tuple[int, int]]:
    """Run one conditional UPDATE on a part; (on_hand, reserved) after it, or None if refused."""
    stmt = (
        sa.update(Part)
        .where(Part.id == part.id, where)
        .values(**values)
        .returning(Part.on_hand, Part.reserved)
        .execution_options(synchronize_session=False)
    )
    row = db.session.execute(stmt).first()
    db.session.expire(part, ["on_hand", "reserved"])
    return (row[0], row[1]) if row is not None else None


def _ledger(
    part: Part,
    kind: str,
    quantity: int,
    after: tuple[int, int],
    actor: Optional[User],
    request: Optional[ServiceRequest] = None,
    note: Optional[str] = None,
) -> StockMovement:
    """One ledger row; ``quantity`` is how many units (signed only for ``adjust``), and the
    sign convention above is applied here, once."""
    if kind in RESERVED_SIGNS:
        signed = RESERVED_SIGNS[kind] * abs(quantity)
    elif kind == MovementKind.ADJUST:
        signed = quantity
    else:
        signed = ON_HAND_SIGNS[kind] * abs(quantity)
    movement = StockMovement(
        part_id=part.id,
        service_request_id=request.id if request is not None else None,
        kind=kind,
        quantity=signed,
        on_hand_after=after[0],
        reserved_after=after[1],
        actor_id=actor.id if actor is not None else None,
        note=(note or None) and note[:300],
    )
    db.session.add(movement)
    return movement


def receive(part: Part, quantity: int, actor: Optional[User], note: Optional[str] = None):
    """Add delivered stock."""
    _positive(quantity)
    after = _apply(part, sa.true(), on_hand=Part.on_hand + quantity)
    return _ledger(part, MovementKind.RECEIVE, quantity, after, actor, note=note)


def adjust(part: Part, delta: int, actor: Optional[User], note: Optional[str] = None):
    """Correct the count after a stock-take (negative for losses); never below what is reserved."""
    if not isinstance(delta, int) or delta == 0:
        raise ValidationFailed("Give a non-zero whole number.", fields={"delta": ["Non-zero."]})
    after = _apply(part, Part.on_hand + delta >= Part.reserved, on_hand=Part.on_hand + delta)
    if after is None:
        raise Conflict(f"{part.sku}: not enough unreserved stock to remove {-delta}.")
    movement = _ledger(part, MovementKind.ADJUST, delta, after, actor, note=note)
    check_low_stock(part)
    return movement


def reserve_part(
    request: ServiceRequest, part: Part, quantity: int, actor: Optional[User]
) -> RequestPart:
    """Set stock aside for a repair (only what is available: on hand minus reserved)."""
    return _take_from_stock(
        request,
        part,
        quantity,
        actor,
        status=RequestPartStatus.RESERVED,
        reserved=Part.reserved + quantity,
    )


def _take_from_stock(
    request: ServiceRequest,
    part: Part,
    quantity: int,
    actor: Optional[User],
    *,
    status: str,
    **changes,
) -> RequestPart:
    """Reserve or use ``quantity`` of what is available, atomically, with its ledger row."""
    _positive(quantity)
    after = _apply(part, Part.on_hand - Part.reserved >= quantity, **changes)
    if after is None:
        raise Conflict(f"{part.sku}: only {part.available} available, {quantity} asked.")
    line = RequestPart(
        service_request=request,
        part_id=part.id,
        quantity=quantity,
        unit_price=0 if request.no_charge else part.price,
        status=status,
    )
    db.session.add(line)
    reserving = status == RequestPartStatus.RESERVED
    _ledger(
        part,
        MovementKind.RESERVE if reserving else MovementKind.CONSUME,
        quantity,
        after,
        actor,
        request,
    )
    db.session.flush()
    audit.record(
        actor,
        "part_reserved" if reserving else "part_consumed",
        request,
        after={"part": part.sku, "quantity": quantity},
    )
    check_low_stock(part)
    return line


def _claim_line(line: RequestPart, new_status: str) -> None:
    """Flip a reserved line exactly once, so two clicks cannot consume or release it twice."""
    db.session.flush()
    result = db.session.execute(
        sa.update(RequestPart)
        .where(RequestPart.id == line.id, RequestPart.status == RequestPartStatus.RESERVED)
        .values(status=new_status)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(line, ["status"])
    if result.rowcount != 1:
        raise Conflict("This part is no longer reserved for the repair.")


def consume_part(line: RequestPart, actor: Optional[User]) -> StockMovement:
    """The reserved part went into the device: it leaves the stock and the reservation."""
    _claim_line(line, RequestPartStatus.CONSUMED)
    q = line.quantity
    after = _apply(
        line.part,
        sa.and_(Part.reserved >= q, Part.on_hand >= q),
        on_hand=Part.on_hand - q,
        reserved=Part.reserved - q,
    )
    if after is None:  # the check constraints make this unreachable unless data was edited
        raise Conflict(f"{line.part.sku}: the reservation is not in stock any more.")
    # One change, two rows: the reservation ends (reserved -q), the part leaves (on hand -q).
    reference = line.service_request.reference
    _ledger(
        line.part,
        MovementKind.RELEASE,
        q,
        (after[0] + q, after[1]),
        actor,
        line.service_request,
        f"Fitted in {reference}",
    )
    movement = _ledger(line.part, MovementKind.CONSUME, q, after, actor, line.service_request)
    audit.record(
        actor,
        "part_consumed",
        line.service_request,
        after={"part": line.part.sku, "quantity": q},
    )
    return movement


def use_part(
    request: ServiceRequest, part: Part, quantity: int, actor: Optional[User]
) -> RequestPart:
    """Take a part straight from the shelf into a repair (no earlier reservation)."""
    return _take_from_stock(
        request,
        part,
        quantity,
        actor,
        status=RequestPartStatus.CONSUMED,
        on_hand=Part.on_hand - quantity,
    )


def sell(part: Part, quantity: int, actor: Optional[User], note: Optional[str] = None):
    """Sell an accessory over the counter (no repair): only parts marked sellable, and only
    stock no repair has reserved."""
    _positive(quantity)
    if not part.sellable:
        raise Conflict(f"{part.sku} {part.name} is not sold at the counter.")
    after = _apply(part, Part.on_hand - Part.reserved >= quantity, on_hand=Part.on_hand - quantity)
    if after is None:
        raise Conflict(
            f"{part.name} ({part.sku}): only {part.available} in stock, {quantity} asked."
        )
    movement = _ledger(part, MovementKind.SALE, quantity, after, actor, note=note)
    audit.record(actor, "part_sold", part, after={"part": part.sku, "quantity": quantity})
    check_low_stock(part)
    return movement


def release_part(line: RequestPart, actor: Optional[User], note: Optional[str] = None):
    """Give a reservation back to the shelf (repair canceled or part not needed)."""
    _claim_line(line, RequestPartStatus.RELEASED)
    q = line.quantity
    after = _apply(line.part, Part.reserved >= q, reserved=Part.reserved - q)
    if after is None:
        raise Conflict(f"{line.part.sku}: the reservation is not on record.")
    audit.record(
        actor, "part_released", line.service_request, after={"part": line.part.sku, "quantity": q}
    )
    return _ledger(line.part, MovementKind.RELEASE, q, after, actor, line.service_request, note)


def on_repair_moved(
    request: ServiceRequest, *, target: str, actor: Optional[User], **_: object
) -> None:
    """A canceled repair gives its reserved parts back to the shelf."""
    if target == RepairStatus.CANCELED:
        release_all(request, actor)


def release_all(request: ServiceRequest, actor: Optional[User]) -> int:
    """Release every part still reserved for a request; returns how many lines."""
    if request.id is None:
        return 0
    lines = db.session.scalars(
        sa.select(RequestPart).where(
            RequestPart.service_request_id == request.id,
            RequestPart.status == RequestPartStatus.RESERVED,
        )
    ).all()
    for line in lines:
        release_part(line, actor, note=f"{request.reference} {request.status}")
    return len(lines)


def parts_for(request: ServiceRequest) -> list[RequestPart]:
    """The parts reserved for or used in a repair, oldest first."""
    return list(
        db.session.scalars(
            sa.select(RequestPart)
            .where(RequestPart.service_request_id == request.id)
            .options(sa.orm.joinedload(RequestPart.part))
            .order_by(RequestPart.id)
        )
    )


def low_stock_query() -> sa.Select:
    """Parts whose available stock is at or below the reorder level."""
    return (
        sa.select(Part)
        .where(Part.on_hand - Part.reserved <= Part.reorder_level)
        .order_by((Part.on_hand - Part.reserved) - Part.reorder_level, Part.sku)
    )


def low_stock_parts(limit: Optional[int] = None) -> list[Part]:
    """The low-stock list."""
    stmt = low_stock_query()
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def check_low_stock(part: Part) -> int:
    """Alert every active admin once per part and day when a part runs low; rows written."""
    db.session.refresh(part, ["on_hand", "reserved", "reorder_level"])
    if not part.is_low:
        return 0
    day = utcnow().date().isoformat()
    admins = db.session.scalars(
        sa.select(User).where(User.role.in_(ADMIN_ROLES), User.active)
    ).all()
    written = 0
    for admin in admins:
        written += len(
            notifications.notify(
                admin,
                "low_stock",
                dedup_key=f"low_stock:{part.id}:{day}:{admin.id}",
                channels=["in_app", "email"],
                values={"part": part},
                context={"part_id": part.id, "sku": part.sku},
            )
        )
    return written
