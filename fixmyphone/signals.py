"""What the repair workflow announces, for the services that act on it.

The workflow knows which move is legal and records it; it does not know who cares. Billing,
booking, warranty, stock, the audit log and notifications subscribe here, and ``create_app``
connects them (``fixmyphone.register_subscribers``) in the order they must run. Receivers run
synchronously, inside the caller's transaction, so what they stage commits or rolls back with
the move itself.
"""

from __future__ import annotations

from blinker import Namespace

_repairs = Namespace()

#: Sent by ``workflow.check_move`` once the move is legal for the status machine, with
#: ``target``. A receiver refuses the move by raising a ``Conflict`` (billing refuses
#: ``completed`` while money is owed). Nothing has changed yet.
move_requested = _repairs.signal("move-requested")

#: Sent by ``workflow.move_status`` after the new status and its history entry are staged, with
#: ``actor``, ``previous``, ``target``, ``entry`` (the StatusChange), ``note``, ``when``,
#: ``first_check_in`` (the device arrived with this move) and ``notify``.
repair_moved = _repairs.signal("repair-moved")
