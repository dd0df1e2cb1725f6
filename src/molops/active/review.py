"""Human review of a proposed batch: chemists accept proposals, reject them for a reason, or swap
in a molecule of their own, before the batch goes to the lab.

Every proposal enters review as ``pending review`` when it is proposed. :func:`record_decisions`
records decisions (who and when) on the campaign's state through the same locked, conditional
update as propose and ingest, so it works on a local workspace and on an object store alike,
and writes one audit row per call; :func:`review_state` reads an iteration's batch with the
decision in force on each proposal. What a decision means for later proposals and for the budget
is :mod:`molops.active.decisions`; the CLI (``molops campaign review``) and the web UI only parse
their input and call these two functions.

A proposal is named by its id, its rank in the iteration's batch (``1``, ``2``, …, the ``rank``
column of the proposals file), or by its InChIKey (the proposed molecule's, or the swapped-in one's).
An iteration's review closes once ``campaign ingest`` answered one of its proposals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops.active.decisions import (
    PENDING,
    REJECT_REASONS,
    Action,
    Decision,
    in_force,
    status_of,
)
from molops.active.errors import CampaignError
from molops.active.remote import CampaignChangedError
from molops.active.state import CampaignState, Iteration
from molops.active.store import CampaignStore, now

#: Attempts at committing decisions on an object store where other commands commit meanwhile.
_ATTEMPTS = 5


class ReviewError(CampaignError):
    """A review decision cannot be recorded as given."""


class ProposalReview(BaseModel):
    """One proposal of a batch under review, with the decision in force on it."""

    id: int  # its rank in the batch
    smiles: str
    inchikey: str
    predicted_mean: float | None
    predicted_std: float | None
    acquisition_score: float | None
    #: ``pending review``, ``accepted``, ``rejected`` or ``swapped``
    status: str
    reason: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    #: the chemist's molecule in its place (status ``swapped``)
    swap_smiles: str | None = None
    swap_inchikey: str | None = None


class ReviewState(BaseModel):
    """An iteration's batch under review (what ``campaign review NAME --json`` prints)."""

    campaign: str
    iteration: int
    #: True once results answered one of its proposals: decisions are refused from then on
    closed: bool
    counts: dict[str, int]
    proposals: list[ProposalReview]
    #: every decision made on the batch, oldest first (the ones in force are on :attr:`proposals`)
    decisions: list[Decision]


class ReviewResult(BaseModel):
    """What :func:`record_decisions` recorded, and the batch's review after it."""

    campaign: str
    iteration: int
    recorded: list[Decision]
    review: ReviewState


# -- reading -------------------------------------------------------------------------------------
def review_state(campaign: CampaignStore, iteration: int | None = None) -> ReviewState:
    """The batch of *iteration* (default: the latest) with the decision in force on each proposal,
    the counts per status and the full decision history."""
    state = campaign.load()
    it = _iteration(campaign.name, state, iteration)
    return _review(campaign.name, state, it, campaign._read_frame(it.proposals))


def _review(name: str, state: CampaignState, it: Iteration, frame: pd.DataFrame) -> ReviewState:
    current = in_force(it.decisions)
    rows = []
    for p in frame.to_dict(orient="records"):
        d = current.get(int(p["rank"]))
        rows.append(
            ProposalReview(
                id=int(p["rank"]),
                smiles=str(p["smiles"]),
                inchikey=str(p["inchikey"]),
                predicted_mean=_number(p["predicted_mean"]),
                predicted_std=_number(p["predicted_std"]),
                acquisition_score=_number(p["acquisition_score"]),
                status=status_of(d),
                reason=d.reason if d else None,
                decided_by=d.user if d else None,
                decided_at=d.time if d else None,
                swap_smiles=d.swap_smiles if d else None,
                swap_inchikey=d.swap_inchikey if d else None,
            )
        )
    counts = {s: 0 for s in (PENDING, "accepted", "rejected", "swapped")}
    for row in rows:
        counts[row.status] += 1
    return ReviewState(
        campaign=name,
        iteration=it.number,
        closed=_closed_by(state, it.number) is not None,
        counts=counts,
        proposals=rows,
        decisions=list(it.decisions),
    )


def reviewed(proposals: pd.DataFrame, state: CampaignState) -> pd.DataFrame:
    """Every proposal (one row per proposal, with its iteration) as the reviews left it: rejected
    proposals dropped, swapped ones replaced by the chemist's molecule (no prediction, the cost of
    the one it replaced), and a ``review`` column with each one's status."""
    frame = proposals.assign(review=PENDING)
    drop = np.zeros(len(frame), dtype=bool)
    for it in state.iterations:
        for rank, d in in_force(it.decisions).items():
            row = ((frame["iteration"] == it.number) & (frame["rank"] == rank)).to_numpy()
            if d.action == "reject":
                drop |= row
            elif d.action == "swap":
                frame.loc[row, ["smiles", "inchikey", "nearest_smiles"]] = [
                    d.swap_smiles,
                    d.swap_inchikey,
                    "",
                ]
                for column in ("predicted_mean", "predicted_std", "acquisition_score", "nearest_similarity"):
                    frame.loc[row, column] = np.nan
                frame.loc[row, "nearest_value"] = np.nan
                frame.loc[row, "reason"] = f"swapped in by {d.user}"
                frame.loc[row, "pool_row"] = -1
            frame.loc[row, "review"] = status_of(d)
    return frame[~drop].reset_index(drop=True)


# -- deciding ------------------------------------------------------------------------------------
def record_decisions(
    campaign: CampaignStore,
    iteration: int | None = None,
    *,
    accept: Iterable[str | int] = (),
    reject: Iterable[str | int] = (),
    reason: str | None = None,
    swaps: Mapping[str, str] | Mapping[int, str] | None = None,
    user: str | None = None,
) -> ReviewResult:
    """Record review decisions on the batch of *iteration* (default: the latest) and return them
    with the batch's review after them.

    *accept* and *reject* name proposals by id (rank) or InChIKey; a rejection needs *reason*
    (one of :data:`~molops.active.decisions.REJECT_REASONS` or free text), which also goes with
    the swaps. *swaps* maps a proposal to the SMILES of the chemist's molecule that takes its
    place (standardised like every ingested molecule). *user* is who decided (default: the
    workspace's acting user; a web form passes its signed-in user). All decisions of one call are
    validated before any is recorded: one bad input and nothing changes (a
    :class:`ReviewError` naming it). Refused once the iteration's results were ingested.
    """
    accept_ids, reject_ids = [str(i) for i in accept], [str(i) for i in reject]
    swap_ids = {str(k): v for k, v in (swaps or {}).items()}
    reason = _reason(reason, bool(reject_ids), bool(swap_ids))
    if not (accept_ids or reject_ids or swap_ids):
        raise ReviewError("no decision given: accept, reject or swap at least one proposal")
    who = (user or "").strip() or campaign.ws.audit.user
    for attempt in range(_ATTEMPTS):
        with campaign._locked():
            state = campaign.load(for_update=True)
            it = _iteration(campaign.name, state, iteration)
            frame = campaign._read_frame(it.proposals)
            made = _decisions(campaign, state, it, frame, accept_ids, reject_ids, swap_ids, reason, who)
            it.decisions.extend(made)
            try:
                campaign._save(state, "recording review decisions", "campaign review")
                break
            except CampaignChangedError:  # another command committed: decide again on its state
                if attempt == _ATTEMPTS - 1:
                    raise
    campaign.ws.audit.as_user(who).record(
        "campaign.review",
        campaign.name,
        it.number,
        accepted=[d.rank for d in made if d.action == "accept"],
        rejected=[d.rank for d in made if d.action == "reject"],
        swapped={str(d.rank): d.swap_smiles for d in made if d.action == "swap"},
        reason=reason,
    )
    return ReviewResult(
        campaign=campaign.name,
        iteration=it.number,
        recorded=made,
        review=_review(campaign.name, state, it, frame),
    )


def _decisions(
    campaign: CampaignStore,
    state: CampaignState,
    it: Iteration,
    frame: pd.DataFrame,
    accept: list[str],
    reject: list[str],
    swaps: dict[str, str],
    reason: str | None,
    user: str,
) -> list[Decision]:
    """The decisions of one call, every input checked against the batch as it is now."""
    where = f"iteration {it.number} of campaign {campaign.name!r}"
    closed = _closed_by(state, it.number)
    if closed is not None:
        raise ReviewError(f"{where} already has results ingested (ingest {closed}); its review is closed")
    current = in_force(it.decisions)
    ranks: dict[int, str] = {}
    plan: list[tuple[Action, int, str | None]] = []
    given: list[tuple[Action, list[str]]] = [("accept", accept), ("reject", reject), ("swap", list(swaps))]
    for action, ids in given:
        for ident in ids:
            rank = _slot(ident, frame, current, where)
            if rank in ranks and ranks[rank] != action:
                raise ReviewError(
                    f"proposal {ident!r} of {where} is given two decisions ({ranks[rank]} and {action}); "
                    "give each proposal one"
                )
            ranks[rank] = action
            plan.append((action, rank, swaps.get(ident)))
    by_rank = frame.set_index("rank")
    swapped_in = _swap_molecules(campaign, where, plan, by_rank, current)
    time, made, done = now(), [], set[int]()
    for action, rank, _ in plan:
        if rank in done:  # the same proposal named twice (by id and by InChIKey)
            continue
        done.add(rank)
        row = by_rank.loc[rank]
        cost = _number(row["cost"]) if "cost" in row else None
        smiles, key = swapped_in.get(rank, (None, None))
        made.append(
            Decision(
                rank=rank,
                action=action,
                smiles=str(row["smiles"]),
                inchikey=str(row["inchikey"]),
                reason=reason if action != "accept" else None,
                swap_smiles=smiles,
                swap_inchikey=key,
                cost=cost,
                user=user,
                time=time,
            )
        )
    return made


def _swap_molecules(
    campaign: CampaignStore,
    where: str,
    plan: list[tuple[Action, int, str | None]],
    by_rank: pd.DataFrame,
    current: dict[int, Decision],
) -> dict[int, tuple[str, str]]:
    """Each swap's molecule standardised (rank → SMILES, InChIKey); refuses an unparsable one and
    one that is already in the batch."""
    from molops.chem.standardize import Rejected, Standardizer
    from molops.data.ingest import standardizer_settings

    std = Standardizer(standardizer_settings(campaign.ws.config.ingest))
    in_batch = dict(zip(by_rank["inchikey"].astype(str), by_rank.index.astype(int), strict=True))
    in_batch |= {d.swap_inchikey: r for r, d in current.items() if d.swap_inchikey and d.action == "swap"}
    out: dict[int, tuple[str, str]] = {}
    for action, rank, text in plan:
        if action != "swap" or text is None:
            continue
        found = std.standardize(text, "smiles")
        what = f"the swap for proposal {rank} of {where}: {text!r}"
        if isinstance(found, Rejected):
            raise ReviewError(f"{what} is not a molecule molops accepts ({found.detail})")
        other = in_batch.get(found.inchikey)
        if other is not None and other != rank:
            raise ReviewError(f"{what} is already proposal {other} of the batch")
        if other == rank and by_rank.loc[rank, "inchikey"] == found.inchikey:
            raise ReviewError(f"{what} is the proposed molecule itself; accept it instead")
        in_batch[found.inchikey] = rank
        out[rank] = (found.smiles, found.inchikey)
    return out


# -- input ---------------------------------------------------------------------------------------
def parse_ids(values: Iterable[str]) -> list[str]:
    """Proposal ids from the command line: each value may list several, comma-separated, and the
    option may be repeated; blanks are dropped and a repeated id is kept once, in the order given."""
    ids = (part.strip() for value in values for part in value.split(","))
    return list(dict.fromkeys(i for i in ids if i))


def parse_swaps(values: Iterable[str]) -> dict[str, str]:
    """``ID=SMILES`` pairs (a SMILES may itself contain ``=``: the id ends at the first one)."""
    swaps: dict[str, str] = {}
    for value in values:
        ident, sep, smiles = value.partition("=")
        if not sep or not ident.strip() or not smiles.strip():
            raise ReviewError(f"--swap {value!r} is not ID=SMILES; expected e.g. --swap 3=CCO")
        if ident.strip() in swaps:
            raise ReviewError(f"--swap names proposal {ident.strip()!r} twice; swap each proposal once")
        swaps[ident.strip()] = smiles.strip()
    return swaps


def _reason(reason: str | None, rejecting: bool, swapping: bool) -> str | None:
    """The reason, in the vocabulary's spelling when it is one of :data:`REJECT_REASONS`."""
    text = (reason or "").strip()
    if rejecting and not text:
        raise ReviewError(
            "rejecting proposals needs a reason: "
            + ", ".join(repr(r) for r in REJECT_REASONS)
            + " or your own words"
        )
    if text and not (rejecting or swapping):
        raise ReviewError(f"reason {text!r} explains rejections or swaps, and none were given")
    known = {r.lower(): r for r in REJECT_REASONS}
    return known.get(text.lower(), text) or None


def _slot(ident: str, frame: pd.DataFrame, current: dict[int, Decision], where: str) -> int:
    """The rank of the proposal *ident* names: its rank, or an InChIKey of the batch."""
    text = ident.strip()
    if text.isdigit() and 1 <= int(text) <= len(frame):
        return int(text)
    key = text.upper()
    hits = frame.loc[frame["inchikey"] == key, "rank"]
    if len(hits):
        return int(hits.iloc[0])
    for rank, d in current.items():
        if d.action == "swap" and d.swap_inchikey == key:
            return rank
    raise ReviewError(
        f"{where} has no proposal {ident!r}; expected an id from 1 to {len(frame)} or an InChIKey "
        "from its proposals file"
    )


def _iteration(name: str, state: CampaignState, number: int | None) -> Iteration:
    if not state.iterations:
        raise ReviewError(f"campaign {name!r} has proposed nothing yet; run campaign propose first")
    if number is None:
        return state.iterations[-1]
    if not 1 <= number <= len(state.iterations):
        raise ReviewError(
            f"campaign {name!r} has no iteration {number}; its iterations are 1 to {len(state.iterations)}"
        )
    return state.iterations[number - 1]


def _closed_by(state: CampaignState, number: int) -> int | None:
    """The first ingest that answered a proposal of iteration *number* (None: review is open)."""
    return next((r.number for r in state.ingests if number in r.iterations), None)


def _number(value: Any) -> float | None:
    """A float, or None for a missing or NaN value (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if np.isnan(number) else number
