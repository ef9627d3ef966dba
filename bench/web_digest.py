"""The digest's web version (`cos digest --out`, `/d/...`, the admin preview) for a coalition of
N people, most of them silent: rendered for a browser (emails.render.render_web: styles in the
<style> block, silent people one line per organisation) against the way it was rendered before,
as an email (render then CSS inliner, every silent person a list item), in the same run.

    .venv/bin/python bench/web_digest.py [--sizes 100,100000] [--answered 0.02]

Each side runs in a fresh child process (as `cos digest --out` does): the child builds the
digest context (the example digest with N people in N/10 organisations, 2% answered, so 98% are
silent), then renders it once. Prints each side's render seconds and the child's peak RSS
(`ru_maxrss`), its growth from the smallest size, and the ratio of the two sides. The database
read of the stored scoreboard is the same on both sides and left out.
Goal (issue 9, growth): peak memory grows by under 200 MB from 100 to 100,000 people.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(side: str, people: int, answered_share: float) -> None:
    """Build the context, render it one way, print seconds and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    from emails.examples import example
    from emails.render import render_named, render_web

    context = example("web-digest")
    answered = int(people * answered_share)
    context["scoreboard"]["response"] = {
        "invited": people, "answered": answered, "rate": answered / people,
        "silent": [{"name": f"Partner {n:06} Example-Name",
                    "organisation": f"Organisation {n // 10:05}"}
                   for n in range(answered, people)]}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rendered = (render_web if side == "web" else render_named)("digest", context)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_kib": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss, "context_rss_kib": before,
        "html_bytes": len(rendered.html.encode())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--answered", type=float, default=0.02)
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "PEOPLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.answered)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[tuple[str, int], dict[str, float]] = {}
    for people in sizes:
        for side in ("email", "web"):
            out = subprocess.run([sys.executable, __file__, "--child", side, str(people),
                                  "--answered", str(args.answered)], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            figures[side, people] = json.loads(out)
            f = figures[side, people]
            print(f"{people:>8,} people, {side:5}: {f['seconds']:6.2f} s render, peak RSS "
                  f"{f['rss_kib'] / 1024:6.0f} MB (context built: "
                  f"{f['context_rss_kib'] / 1024:.0f} MB), HTML {f['html_bytes'] / 1e6:.1f} MB",
                  flush=True)
    print("\n| people | side | render s | peak RSS | growth from smallest | HTML |")
    print("|---|---|---|---|---|---|")
    for people in sizes:
        for side in ("email", "web"):
            f, base = figures[side, people], figures[side, sizes[0]]
            print(f"| {people:,} | {'before: email + inliner' if side == 'email' else 'after: web'}"
                  f" | {f['seconds']:.2f} | {f['rss_kib'] / 1024:.0f} MB | "
                  f"+{(f['rss_kib'] - base['rss_kib']) / 1024:.0f} MB | "
                  f"{f['html_bytes'] / 1e6:.1f} MB |")
    for people in sizes:
        email, web = figures["email", people], figures["web", people]
        print(f"{people:,} people: web {email['seconds'] / web['seconds']:.1f}x faster, "
              f"{email['rss_kib'] / web['rss_kib']:.1f}x less peak RSS")


if __name__ == "__main__":
    main()
