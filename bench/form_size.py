"""The check-in page's cost against the coalition's size: GET rate, page bytes and SQL
statements per GET for a partner of a coalition of 10 organisations and of one of 10,000, and
the POST rate naming three helpers (ticked, or typed in the large coalition), in the same
process (Flask's test client, no gunicorn), with the ratio of the large to the small.

    .venv/bin/python bench/form_size.py [--sizes 10,10000] [--requests 200]

Each coalition has one partner per organisation and an open round; in the large one the
partner's organisation was helped by three others in an earlier round (its likely helpers).

Goal (issue 9, "fast at every size"): the page's bytes flat and its GET rate within 1.5x from 10
to 10,000 organisations; its statements flat above 30 (one more than a small coalition's page,
which lists every organisation: the likely helpers' query).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import lxml.html
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import instance, machine  # noqa: E402


def grow(database_url: str, secret_key: str, organisations: int) -> str:
    """Make a coalition of this many organisations, one partner each, with an open round and
    some help recorded in an earlier one; return the first partner's check-in path."""
    from pipeline.db import session_scope
    from pipeline.models import (
        Coalition,
        HelpEdge,
        Invitation,
        Organisation,
        Person,
        Round,
        utcnow,
    )
    from pipeline.rounds import start_round
    from pipeline.tokens import checkin_link

    slug = f"size-{organisations}"
    with session_scope(database_url) as session:
        coalition = Coalition(slug=slug, name=f"Coalition of {organisations}", win="Fed",
                              timezone="Europe/London")
        session.add(coalition)
        session.flush()
        connection = session.connection()
        connection.execute(sa.insert(Organisation), [
            {"coalition_id": coalition.id, "name": f"Organisation {n:05d} of the Riverside"}
            for n in range(organisations)])
        org_ids = list(connection.execute(sa.select(Organisation.id).where(
            Organisation.coalition_id == coalition.id).order_by(Organisation.id)).scalars())
        connection.execute(sa.insert(Person), [
            {"coalition_id": coalition.id, "organisation_id": o, "email": f"p{o}@{slug}.org",
             "name": f"Partner {o}", "role": "partner", "active": True}
            for o in org_ids])
        first = session.execute(sa.select(Person.id).where(
            Person.organisation_id == org_ids[0])).scalar_one()
        opened = utcnow() - timedelta(days=14)
        earlier = Round(coalition_id=coalition.id or 0, number=1, opened_at=opened,
                        closes_at=opened + timedelta(days=3),
                        closed_at=opened + timedelta(days=3))
        session.add(earlier)
        session.flush()
        session.add_all([HelpEdge(round_id=earlier.id or 0, helper_organisation_id=helper,
                                  helped_organisation_id=org_ids[0],
                                  reported_by_person_id=first)
                         for helper in org_ids[1:4]])
        session.flush()
        round_, _ = start_round(session, secret_key, slug, timedelta(hours=72))
        salt = session.execute(sa.select(Invitation.salt).where(
            Invitation.round_id == round_.id, Invitation.person_id == first)).scalar_one()
    return checkin_link("", secret_key, salt)


def timed(send: Callable[[], Any], engine: sa.Engine, requests_: int) -> dict[str, float]:
    """Send a request `requests_` times (after a warm-up); return its rate, CPU per request,
    the last response's bytes and statements per request."""
    statements = [0]

    def seen(*_args: object) -> None:
        statements[0] += 1

    for _ in range(5):
        send()
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests_):
            page = send()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return {"rate": requests_ / wall, "cpu_ms": cpu / requests_ * 1000,
            "bytes": len(page.get_data()), "statements": statements[0] / requests_}


def answer(client: Any, path: str, size: int) -> dict[str, Any]:
    """The fields of a POST naming three helpers: ticked when the page lists every
    organisation, typed when it is a large coalition's (two whole names in another case, one
    name's start)."""
    doc = lxml.html.fromstring(client.get(path).get_data(as_text=True))
    fields: dict[str, Any] = {"csrf_token": doc.forms[0].fields["csrf_token"], "pulse": "4"}
    if doc.xpath("//textarea[@name='helped_by_names']"):
        fields["helped_by_names"] = (f"ORGANISATION {5:05d} OF THE RIVERSIDE, organisation "
                                     f"{size // 2:05d} of the riverside\n"
                                     f"Organisation {size - 1:05d}")
    else:
        fields["helped_by"] = [box.get("value")
                               for box in doc.xpath("//input[@name='helped_by']")[:3]]
    return fields


def show(client: Any, path: str) -> Any:
    """GET the page; stop the bench unless it is the form."""
    return expect(200, client.get(path))


def save(client: Any, path: str, fields: dict[str, Any]) -> Any:
    """POST the answer; stop the bench unless it is saved."""
    return expect(303, client.post(path, data=fields))


def expect(status: int, response: Any) -> Any:
    """Return the response, or stop the bench when it is not the expected page."""
    if response.status_code != status:
        raise SystemExit(f"expected {status}, got {response.status_code}")
    return response


def main() -> None:
    """Print each size's figures and the ratio of the largest to the smallest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"form size bench: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch, \
            instance(Path(scratch)) as env:
        env["COS_RATE_LIMIT"] = "off"
        os.environ.update(env)
        from forms import create_app
        from pipeline.config import Settings
        from pipeline.db import get_engine

        settings = Settings.from_env(require_secret=True)
        paths = {size: grow(settings.database_url, settings.secret_key, size) for size in sizes}
        client = create_app().test_client()
        engine = get_engine(settings.database_url)
        figures, posts = {}, {}
        for size in sizes:
            path = paths[size]
            figures[size] = timed(partial(show, client, path), engine, args.requests)
            fields = answer(client, path, size)
            posts[size] = timed(partial(save, client, path, fields), engine, args.requests)
    for size, f in figures.items():
        print(f"  {size:>7,} organisations: {f['rate']:7.1f} GET/s  {f['cpu_ms']:7.2f} ms CPU  "
              f"{f['bytes']:>9,} bytes  {f['statements']:.0f} statements per GET; "
              f"{posts[size]['rate']:6.1f} POST/s naming 3 helpers "
              f"({posts[size]['statements']:.0f} statements)")
    small, large = figures[sizes[0]], figures[sizes[-1]]
    print(f"  {sizes[-1]:,} vs {sizes[0]:,}: GET rate {small['rate'] / large['rate']:.2f}x "
          f"slower, CPU {large['cpu_ms'] / small['cpu_ms']:.2f}x, bytes "
          f"{large['bytes'] / small['bytes']:.2f}x, statements "
          f"{large['statements'] / small['statements']:.2f}x (goal: bytes 1x, rate within 1.5x); "
          f"POST rate {posts[sizes[0]]['rate'] / posts[sizes[-1]]['rate']:.2f}x slower")
    print(f"  load after: {machine()}")


if __name__ == "__main__":
    main()
