"""The coalition's vocabularies, each spelled out once.

They are StrEnums, so a member compares equal to its text: the database, the JSON answers and
the templates keep plain strings, and the code names each value once.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a person does at the table."""

    PARTNER = "partner"  # checks in every round
    LEAD = "lead"  # receives the digest
    OBSERVER = "observer"  # reads the scoreboard, is never counted as silent


class Stage(StrEnum):
    """Where the coalition is in its life; reset sends the loop back to Ready."""

    LAUNCH = "launch"
    GROWTH = "growth"
    MATURITY = "maturity"
    RESET = "reset"


class Direction(StrEnum):
    """Which way a metric should move."""

    UP = "up"
    DOWN = "down"  # less is better


class CommitmentStatus(StrEnum):
    """What a partner can say about a commitment; OPEN means nobody has reported on it yet."""

    OPEN = "open"
    ON_TRACK = "on_track"
    SLIPPING = "slipping"
    BLOCKED = "blocked"
    DONE = "done"
    DROPPED = "dropped"

    @property
    def closed(self) -> bool:
        """Say whether the commitment is finished, one way or the other."""
        return self in CLOSED_STATUSES

    @property
    def label(self) -> str:
        """Return the words people read for this status."""
        return self.value.replace("_", " ").capitalize()


# The statuses a partner can report (every status but OPEN), in the order the form shows them.
REPORTED_STATUSES = tuple(s for s in CommitmentStatus if s is not CommitmentStatus.OPEN)
CLOSED_STATUSES = frozenset({CommitmentStatus.DONE, CommitmentStatus.DROPPED})


class ConflictKind(StrEnum):
    """What people of one organisation can answer differently in a round."""

    COMMITMENT = "commitment"  # its status
    METRIC = "metric"  # its reading


class DeliveryStatus(StrEnum):
    """Where one ledger row's email stands."""

    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    FAILED = "failed"  # temporarily: will be tried again
    REJECTED = "rejected"  # refused for good (a bad address): not retried
    EXPIRED = "expired"  # no longer worth sending (its round closed): not retried
    BOUNCED = "bounced"  # the server refused the address for good (5xx to RCPT): suppressed
    WITHHELD = "withheld"  # not sent on purpose: opted out, suppressed, or already answered


# Rows a sender may claim.
SENDABLE_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.FAILED)


class EmailKind(StrEnum):
    """The emails the ledger sends; each has a template triple in emails/templates."""

    INVITATION = "invitation"
    REMINDER = "reminder"
    DIGEST = "digest"


class RoundState(StrEnum):
    """Where a round is in its life."""

    SCHEDULED = "scheduled"  # opened, its invitations not handed to a sender yet
    SENDING = "sending"  # invitations going out
    PAUSED = "paused"  # sending held by an admin or by too many failures in a row
    OPEN = "open"  # every invitation handled; taking answers
    CLOSED = "closed"
    CANCELLED = "cancelled"
