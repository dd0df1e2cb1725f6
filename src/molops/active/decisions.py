"""Review decisions on a proposed batch: what a chemist decided about each proposal, and the batch
once they are applied. Pure data and arithmetic; recording them is :mod:`molops.active.review`.

A decision names a *slot* of an iteration's batch (the proposal's rank). The last decision on a
slot is the one in force, so a reviewer can change their mind until the iteration's results are
ingested; every decision stays in the state, so the history is never lost:

- ``accept``: the proposed molecule goes to the lab (undoes an earlier reject or swap);
- ``reject``: it does not, for a reason; the slot is left empty;
- ``swap``: the chemist's own molecule takes the slot, and the proposed one counts as rejected.

Rejected molecules (rejected or swapped out) are never proposed again. The molecule budget counts
every slot not rejected: a pending proposal counts as spent until it is rejected, and a swapped
slot counts once (the chemist's molecule, at the cost of the one it replaced).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: The reasons offered for a rejection; any other text is accepted too.
REJECT_REASONS = ("not synthesisable", "IP", "toxicophore")

#: The status of a proposal nobody has decided on yet.
PENDING = "pending review"

#: The status of a slot under each decision.
STATUS = {"accept": "accepted", "reject": "rejected", "swap": "swapped"}

Action = Literal["accept", "reject", "swap"]


class Decision(BaseModel):
    """One decision on one proposal (slot *rank* of an iteration's batch), with who and when."""

    rank: int = Field(ge=1)
    action: Action
    #: the proposed molecule (not the swapped-in one)
    smiles: str
    inchikey: str
    reason: str | None = None
    #: the chemist's molecule that takes the slot (a swap only), standardised
    swap_smiles: str | None = None
    swap_inchikey: str | None = None
    #: the proposed molecule's cost (a campaign with a cost column), released by a rejection
    cost: float | None = None
    user: str
    time: str


def in_force(decisions: list[Decision]) -> dict[int, Decision]:
    """The decision in force on each decided slot: the last one recorded for it."""
    return {d.rank: d for d in decisions}


def status_of(decision: Decision | None) -> str:
    """A slot's status: ``pending review``, ``accepted``, ``rejected`` or ``swapped``."""
    return PENDING if decision is None else STATUS[decision.action]


def rejections(decisions: list[Decision]) -> list[Decision]:
    """The decisions in force that keep the proposed molecule out of the lab (reject or swap)."""
    return [d for d in in_force(decisions).values() if d.action != "accept"]


def released(decisions: list[Decision]) -> tuple[int, float]:
    """Slots given back to the budget (rejected, not swapped) and the cost they release."""
    rejected = [d for d in in_force(decisions).values() if d.action == "reject"]
    return len(rejected), sum(d.cost for d in rejected if d.cost is not None and d.cost == d.cost)
