"""A round's fan-out: from `cos campaign start` to every invitation accepted by a loopback SMTP
server, with one `cos worker`, against two baselines measured in the same run.

    .venv/bin/python bench/fanout.py [--people 2000] [--naive 200] [--worker-simple]
    .venv/bin/python bench/fanout.py --people 10000      # the issue's size

Baselines: the naive path per message (Jinja render, Premailer, an html2text-like text part
from the HTML, an EmailMessage, a new SMTP connection), and the SMTP server's own rate for
pre-built messages over one reused connection (smtplib, one command at a time). Goal (issue 9):
fan-out >= 15x the naive path and >= 70% of the server's rate. The server (aiosmtpd) offers
PIPELINING, as production servers do; it reads pipelined commands in order either way.
The project's bytecode is compiled first, as an installation has it.
"""

from __future__ import annotations

import argparse
import email.policy
import json
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lxml.html

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    COS,
    ROOT,
    compile_project,
    cos,
    grow_example,
    instance,
    machine,
    smtp_server,
)
from emails import Rendered, build_message  # noqa: E402
from emails.render import premailer_inline, render_templates  # noqa: E402

CONTEXT = {
    "coalition_name": "Riverside Food Security Coalition",
    "win": "By December 2027, 1,500 more Riverside households get fresh food every week.",
    "round_label": "Round 4", "organisation_name": "Northside Food Bank",
    "closes_at": "Thursday 3 December 2026, 17:00 Europe/London",
    "commitments": [{"text": "Open a Saturday pantry at St Mark's hall", "due": "2026-12-18"},
                    {"text": "Share the volunteer rota with the school kitchens", "due": None}],
    "metrics": [{"name": "Meals served", "unit": "meals"}],
    "lead_organisation": "Riverside Community Foundation",
    "footer_reason": "you are a partner of Riverside Food Security Coalition",
}


def html_to_text(html: str) -> str:
    """An html2text-like text part: block elements on their own lines, links spelled out."""
    doc = lxml.html.document_fromstring(html)
    for link in doc.iter("a"):
        link.tail = f" ({link.get('href')}){link.tail or ''}"
    for block in doc.iter("p", "h1", "h2", "li", "tr", "br"):
        block.tail = "\n" + (block.tail or "")
    body = doc.find("body")
    lines = (" ".join(line.split()) for line in (body if body is not None else doc)
             .text_content().splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def naive_rate(host: str, port: int, count: int) -> float:
    """Messages a second by the naive path, each over its own SMTP connection."""
    start = time.perf_counter()
    for n in range(count):
        context = {**CONTEXT, "person_name": f"Partner {n}",
                   "link": f"https://cos.example.org/c/token{n:040d}"}
        subject, _, html = render_templates("invitation", context)
        html = premailer_inline(html)
        message = build_message(Rendered(subject, html_to_text(html), html),
                                sender="Riverside <cos@example.org>", to_name=f"Partner {n}",
                                to_addr=f"partner{n}@example.org",
                                message_id=f"<naive.{n}@example.org>")
        with smtplib.SMTP(host, port) as client:
            client.send_message(message)
    return count / (time.perf_counter() - start)


def server_rate(host: str, port: int, count: int) -> float:
    """Messages a second the server accepts, pre-built, over one reused connection."""
    subject, text, html = render_templates("invitation", {
        **CONTEXT, "person_name": "Partner", "link": "https://cos.example.org/c/x"})
    messages = [build_message(Rendered(subject, text, premailer_inline(html)),
                              sender="Riverside <cos@example.org>", to_name=f"Partner {n}",
                              to_addr=f"partner{n}@example.org",
                              message_id=f"<prebuilt.{n}@example.org>").as_bytes(
                                  policy=email.policy.SMTP)
                for n in range(count)]
    start = time.perf_counter()
    with smtplib.SMTP(host, port) as client:
        for n, raw in enumerate(messages):
            client.sendmail("cos@example.org", [f"partner{n}@example.org"], raw)
    return count / (time.perf_counter() - start)


def fan_out(people: int, simple: bool) -> tuple[int, float, float, float]:
    """Return (messages, seconds from `campaign start` to the last one accepted, seconds to
    the first one, seconds `campaign start` itself took)."""
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch, \
            smtp_server() as (host, port, handler):
        tmp = Path(scratch)
        with instance(tmp, mail_url=f"smtp://{host}:{port}") as env:
            slug, total = grow_example(env, tmp, people)
            worker = subprocess.Popen([*COS, "worker", "-q", *(["--simple"] if simple else [])],
                                      env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            try:
                time.sleep(3)  # the worker starts, reconciles (nothing) and waits
                handler.reset()
                start = time.perf_counter()
                started = json.loads(cos(env, "campaign", "start", slug, "--json"))
                start_cmd = time.perf_counter() - start
                total = started["invitations"]
                if not handler.wait_for(total, timeout=max(120, people / 10)):
                    raise SystemExit(f"only {handler.count} of {total} messages arrived")
                assert handler.first is not None
                return total, handler.last - start, handler.first - start, start_cmd
            finally:
                worker.terminate()
                worker.wait(timeout=30)


def main() -> None:
    """Print the fan-out rate and its ratios to both baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=200, help="messages for the naive baseline")
    parser.add_argument("--server", type=int, default=2000, help="messages for the server rate")
    parser.add_argument("--worker-simple", action="store_true", help="cos worker --simple")
    args = parser.parse_args()
    print(f"fan-out bench: {machine()}")
    compile_project()
    # The baselines run before and after the fan-out and are averaged, so a machine whose load
    # changes meanwhile (it is shared) skews the ratios less.
    with smtp_server() as (host, port, _):
        naive = naive_rate(host, port, args.naive // 2)
        server = server_rate(host, port, args.server // 2)
    total, seconds, first, start_cmd = fan_out(args.people, args.worker_simple)
    with smtp_server() as (host, port, _):
        naive = (naive + naive_rate(host, port, args.naive // 2)) / 2
        server = (server + server_rate(host, port, args.server // 2)) / 2
    rate = total / seconds
    print(f"  baseline naive path (render+Premailer+text+new connection): {naive:8.1f} msg/s")
    print(f"  baseline SMTP server, pre-built, one connection:            {server:8.1f} msg/s")
    print(f"  fan-out of {total} people, one worker: {seconds:6.1f} s = {rate:8.1f} msg/s "
          f"(first message after {first:.2f} s; `cos campaign start` took {start_cmd:.2f} s)")
    print(f"  ratio to naive:  {rate / naive:5.1f}x   (goal >= 15x)")
    print(f"  ratio to server: {rate / server:5.0%}    (goal >= 70%)")
    print(f"  load after: {machine()}")


if __name__ == "__main__":
    main()
