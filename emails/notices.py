"""What the notices to the people running a coalition say, as Lazy sentences: each reader
gets them in their own language (pipeline.notices sends them; emails.examples previews them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from emails.format import N_
from emails.i18n import Lazy, lazy, short_name


def notice_context(coalition_name: str, title: Lazy, lines: Sequence[Lazy],
                   language: str) -> dict[str, Any]:
    """The notice template's context for one reader's language."""
    subject = title.translated(language)
    # The heading under the masthead (which names the coalition already) drops the name.
    heading = subject.removeprefix(f"{short_name(coalition_name)}: ")
    return {"language": language, "title": subject, "heading": heading[:1].upper() + heading[1:],
            "lines": [line.translated(language) for line in lines],
            "coalition_name": coalition_name,
            "footer_reason": lazy(N_("you run %(coalition)s in COS Cadence"),
                                  coalition=coalition_name).translated(language)}


def paused_notice(coalition_name: str, number: int, round_id: int, reason: str,
                  last_error: str | None) -> tuple[Lazy, list[Lazy]]:
    """What the admins are told when a round paused itself: its title and lines."""
    failures = re.fullmatch(r"paused itself after (\d+) delivery failures in a row", reason)
    why = (lazy(N_("Round %(number)s (campaign %(id)s) paused itself after %(failures)s "
                   "delivery failures in a row, so COS Cadence stopped sending its emails."),
                number=number, id=round_id, failures=int(failures.group(1)))
           if failures else
           lazy(N_("Round %(number)s (campaign %(id)s): %(reason)s, so COS Cadence stopped "
                   "sending its emails."), number=number, id=round_id, reason=reason))
    return (lazy(N_("%(coalition)s: Round %(number)s paused itself"),
                 coalition=short_name(coalition_name), number=number), [
        why,
        lazy(N_("The last error was: %(error)s"),
             error=last_error or lazy(N_("not recorded"))),
        lazy(N_("Check the mail settings (`cos mail test ADDRESS` tries them), then run "
                "`cos campaign resume %(id)s`; `cos campaign status %(id)s` shows every "
                "email."), id=round_id),
    ])


def opt_out_notice(coalition_name: str, person_name: str, email: str
                   ) -> tuple[Lazy, list[Lazy]]:
    """What the leads are told when a partner opts out: its title and lines."""
    return (lazy(N_("%(coalition)s: %(person)s opted out"),
                 coalition=short_name(coalition_name),
                 person=short_name(person_name)), [
        lazy(N_("%(person)s (%(email)s) asked for no more check-in emails from %(coalition)s, "
                "so they will not be asked or reminded again."),
             person=person_name, email=email, coalition=coalition_name),
        lazy(N_("A partner leaving the table is worth a call: is the check-in too long, or "
                "does someone else at their organisation want to answer?")),
    ])


def mail_test_notice(transport: str, signing: str) -> tuple[Lazy, list[Lazy]]:
    """What `cos mail test` sends: its title and lines."""
    return (lazy(N_("COS Cadence test message")), [
        lazy(N_("This message went through %(transport)s (%(signing)s)."),
             transport=transport, signing=signing),
        lazy(N_("If you can read it, partners' check-in emails can reach this inbox too.")),
    ])
