"""Circulation: loans, renewals and holds, decided by Koha's circulation rules.

Every service (ILS-DI, the REST API, the CLI) goes through these functions so that a loan made
at the command line and a renewal asked for by a discovery layer follow the same rules. They
take a SQLAlchemy ``Session`` and never commit: the caller owns the transaction. Refusals raise
``CirculationError`` whose ``code`` is Koha's own reason code (``too_many``, ``on_reserve``,
``tooManyReserves``, ``ITEM_LOST``...), so each protocol can map it to its own vocabulary.

Item changes (``onloan``, counters, ``holdingbranch``) go through ``Catalog.update_item`` so the
OAI datestamp and the search index follow; checkout and hold ids come from ``kohaweb.ids`` and
are never reused. Times are naive UTC, like every other timestamp in the catalogue.
"""

from __future__ import annotations

from ..catalog import Catalog  # noqa: F401  (names callers have imported from here)
from ..models import (  # noqa: F401
    AccountLine,
    Biblio,
    Checkout,
    CirculationRule,
    Hold,
    Item,
    ItemType,
    Library,
    OldCheckout,
    OldHold,
    Patron,
    PatronRestriction,
    utcnow,
)
from .common import (  # noqa: F401
    _AVAILABILITY_MESSAGES,
    RULE_DEFAULTS,
    Availability,
    CirculationError,
    LoanItem,
    _archive_hold,
    _blocked_expired_actions,
    _int_rule,
    _on_loan,
    _require_item,
    _require_patron,
    _rule_scope,
    _rules_for,
    active_restrictions,
    calculate_due_date,
    circulation_branch,
    current_checkout,
    current_item_holds,
    effective_itemtype,
    expired_blocks,
    find_item,
    get_rule,
    has_overdues,
    is_expired,
    is_notforloan,
    is_restricted,
    item_availability,
    loan_item,
    non_issue_charges,
    read_preferences,
    renumber_hold_queue,
    today,
)
from .holds import (  # noqa: F401
    _require_biblio,
    can_cancel_hold,
    can_hold_item,
    can_hold_title,
    can_place_hold,
    cancel_hold,
    cancel_requested_waiting_holds,
    cancellation_requestable,
    cancellation_requested,
    check_patron_can_hold,
    check_pickup,
    holds_count,
    item_holdable,
    place_hold,
    request_cancellation,
)
from .loans import (  # noqa: F401
    _fill_own_hold,
    _holds_waiting_for,
    _loan_holds,
    can_checkout,
    can_renew,
    checkin,
    checkout,
    renew,
    renewals_allowed,
    trap_hold,
)
from .services import (  # noqa: F401
    PatronServices,
    patron_checkouts,
    patron_holds,
    restrict,
    services_for,
)
