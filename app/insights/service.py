"""The funnel and courtesy figures: how the caller's interviews move through the workflow, and
whether the people who helped were thanked and reported to in good time.

The interviews counted are those asked for within the period (their ``requested_at``), each
followed to where it stands today. Per group:

- how many are in each state now;
- for each forward step of the workflow (request → prepared → held → thanked → reported-back,
  from :mod:`app.interviews.workflow`): how many reached its first state (every interview
  starts in the first; later states by the time the interview records for entering them, which
  each move writes together with its event), how many of those later made the move, the
  share, and the median days between entering one state and entering the next (those same
  times, so a conversation recorded as held after the fact counts from when it was held);
- the share of held interviews thanked within 24 hours, and of those with referrers, reported
  back to every referrer within 7 days;
- the referrals the interviewees of held interviews gave, per held interview;
- the referrers whose leads became held interviews, most first.

The database computes every figure (:mod:`app.insights.repository`) except the medians: it
gives the time each step took, and this module takes their medians and puts the figures
together.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from app.insights import repository
from app.insights.schemas import (
    Courtesy,
    StateCount,
    Stats,
    StatsGroup,
    StatsGrouping,
    StatsPeriod,
    StepFigures,
    TopReferrer,
)
from app.interviews import workflow
from app.kit.errors import caller_gone
from app.kit.schemas import EARLIEST, LATEST
from app.vocabulary import InterviewState

MAX_GROUPS = 100
MAX_TOP = 20
DEFAULT_TOP = 5

# The period's open ends, as bounds every timestamp lies within.
_OPEN_START = EARLIEST
_OPEN_END = LATEST

_NO_KEY_LABELS = {
    StatsGrouping.REFERRER_RELATIONSHIP: "No referrer",
    StatsGrouping.REFERRER: "No referrer",
    StatsGrouping.CAREER_FIELD: "No career field",
    StatsGrouping.MODE: "No mode",
    StatsGrouping.NONE: "All interviews",
}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _number(value: Any) -> int:
    return int(value or 0)


def _key_text(grouping: StatsGrouping, key: Any) -> str | None:
    if grouping == StatsGrouping.NONE or key is None:
        return None
    return str(key)


def _label(grouping: StatsGrouping, key: str | None, label: str | None) -> str:
    if key is None:
        return _NO_KEY_LABELS[grouping]
    if label:
        return label
    return key.replace("_", " ")


def stats(
    connection: Connection,
    owner_id: uuid.UUID,
    *,
    group_by: StatsGrouping = StatsGrouping.NONE,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = MAX_GROUPS,
    top: int = DEFAULT_TOP,
) -> Stats:
    """The caller's figures over interviews requested in ``[start, end)``, per group.

    A 401 if the caller's account is gone: the first statement checks it.
    """
    low = (start or _OPEN_START).astimezone(UTC)
    high = (end or _OPEN_END).astimezone(UTC)
    rows = repository.group_rows(connection, group_by, owner_id, low, high)
    if not rows:
        raise caller_gone()
    found = [row for row in rows if row.interviews]
    period = StatsPeriod(start=start, end=end)
    if not found:
        return Stats(group_by=group_by, period=period, groups=[], groups_left_out=0)
    # Most interviews first, then by label; only the groups shown are put together.
    found.sort(key=lambda row: _order(group_by, row))
    shown = found[:limit]
    if group_by == StatsGrouping.REFERRER:
        referrers = _own_referrers(shown)
    else:
        referrers = _top_referrers(connection, group_by, owner_id, low, high, top, shown)
    groups = [_group(group_by, row, referrers.get(row.key, [])) for row in shown]
    return Stats(
        group_by=group_by,
        period=period,
        groups=groups,
        groups_left_out=max(0, len(found) - limit),
    )


def _top_referrers(
    connection: Connection,
    grouping: StatsGrouping,
    owner_id: uuid.UUID,
    low: datetime,
    high: datetime,
    top: int,
    shown: list[Any],
) -> dict[Any, list[TopReferrer]]:
    """Per group shown, the referrers whose leads became its held interviews, most first."""
    keys = {row.key for row in shown}
    referrers: dict[Any, list[TopReferrer]] = {}
    for row in repository.top_referrer_rows(connection, grouping, owner_id, low, high, top):
        if row.key in keys:
            referrers.setdefault(row.key, []).append(
                TopReferrer(
                    contact_id=row.contact_id,
                    full_name=row.full_name,
                    held_interviews=row.held_interviews,
                )
            )
    return referrers


def _own_referrers(shown: list[Any]) -> dict[Any, list[TopReferrer]]:
    """Grouped by referrer, every lead of a group comes from one person, the group's own
    referrer: its top referrers are that person alone, with the group's held interviews (none
    for the group without a referrer, or one whose interviews were not held). No statement."""
    return {
        row.key: [TopReferrer(contact_id=row.key, full_name=row.label, held_interviews=row.held)]
        for row in shown
        if row.key is not None and row.label is not None and row.held
    }


def _order(grouping: StatsGrouping, row: Any) -> tuple[int, str, str]:
    """Where a group comes in the answer: most interviews first, then by label, then key."""
    key = _key_text(grouping, row.key)
    return (-_number(row.interviews), _label(grouping, key, row.label).casefold(), key or "")


def _median(ordered: list[int]) -> float:
    """The middle value of sorted values, or the mean of the middle two."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


_MS_PER_DAY = 86_400_000


def _median_days(joined: str | None) -> float | None:
    """The median of a step's comma-separated milliseconds, in days; None if none made it."""
    if not joined:
        return None
    return _median(sorted(map(int, joined.split(",")))) / _MS_PER_DAY


def _group(grouping: StatsGrouping, row: Any, top_referrers: list[TopReferrer]) -> StatsGroup:
    key = _key_text(grouping, row.key)
    interviews = _number(row.interviews)

    def entered(state: InterviewState) -> int:
        # Every interview starts in the first state; later ones by the time they record.
        if state == workflow.REQUEST:
            return interviews
        return _number(getattr(row, repository.entered_label(state)))

    figures = []
    for n, (source, target) in enumerate(repository.STEPS):
        reached, advanced = entered(source), entered(target)
        median = _median_days(getattr(row, repository.step_label(n)))
        figures.append(
            StepFigures(
                from_state=source,
                to_state=target,
                reached=reached,
                advanced=advanced,
                conversion=_share(advanced, reached),
                median_days=round(float(median), 4) if median is not None else None,
            )
        )
    held = _number(row.held)
    thanked = _number(row.thanked_in_time)
    to_report = _number(row.to_report)
    reported = _number(row.reported_in_time)
    given = _number(row.referrals_given)
    return StatsGroup(
        key=key,
        label=_label(grouping, key, row.label),
        interviews=interviews,
        states=[
            StateCount(state=state, interviews=_number(getattr(row, f"in_{n}")))
            for n, state in enumerate(workflow.ORDER)
        ],
        steps=figures,
        courtesy=Courtesy(
            held=held,
            thanked_within_24h=thanked,
            thanked_within_24h_share=_share(thanked, held),
            to_report_back=to_report,
            reported_back_within_7d=reported,
            reported_back_within_7d_share=_share(reported, to_report),
        ),
        referrals_given=given,
        referrals_per_held_interview=_share(given, held),
        top_referrers=top_referrers,
    )
