"""The one-page scoreboard as text, from the view ``cos scoreboard --json`` prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.display import plural


def _n(value: float | int | None, places: int = 1) -> str:
    if value is None:
        return "--"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{places}f}"


def _pct(share: float | None) -> str:
    return "--" if share is None else f"{share * 100:.0f}%"


def _trend(values: Sequence[float | None], percent: bool = False) -> str:
    shown = [v for v in values if v is not None]
    if not shown:
        return "no history"
    return " ".join(_pct(v) if percent else _n(v) for v in shown)


def one_page_text(view: Mapping[str, Any]) -> str:
    """Return the one-page scoreboard, phase state and moves as plain text."""
    lines: list[str] = []
    add = lines.append
    c = view["coalition"]
    title = f"{c['name']}: round {view['round']} ({view['kind']}), as of {view['as_of']}"
    add(title)
    add("=" * len(title))
    add(f"Win: {c['win']}")
    add(f"Stage: {view['stage']}. Focus now: {view['phases'][view['focus']]['label']}.")
    add("")
    add("Phases")
    for name, p in view["phases"].items():
        mark = "PASS" if p["passed"] else "FAIL"
        focus = "  <- focus" if name == view["focus"] else ""
        score = "--" if p["score"] is None else str(p["score"])
        add(f"  [{mark}] {p['label']:<9} {score:>3}  {p['band']}{focus}")
        for e in p["exits"]:
            add(f"      {'ok ' if e['passed'] else 'no '} {e['name']}: {e['detail']}")
    if view.get("readiness"):
        r = view["readiness"]
        add("")
        add(f"Readiness check: {r['verdict']} ({r['total']} of {r['maximum']}, "
            f"{plural(r['sheets'], 'sheet')}); lowest: {r['lowest']}")
        add(f"  First move: {r['first_move']}")
    add("")
    add("What slipped since last round")
    for s in view["slipped"] or []:
        add(f"  - {s['what']}")
        add(f"    why: {s['why']}")
    if not view["slipped"]:
        add("  nothing")
    add("")
    add("Next right moves")
    for m in view["moves"]:
        add(f"  {m['rank']}. [{m['phase']}] {m['move']}")
        add(f"     why: {m['reason']} {m['evidence']}.")
        add(f"     say: \u201c{m['script']}\u201d")
    if not view["moves"]:
        add("  no alarms: keep going")
    add("")
    add("Metrics")
    for m in view["metrics"]:
        unit = f" {m['unit']}" if m["unit"] else ""
        add(f"  [{m['band'].upper():<5}] {m['name']} ({m['owner']})")
        change = "" if m["change"] is None else f", {m['change']:+g} since last round"
        add(f"      baseline {_n(m['baseline'])} -> latest {_n(m['latest'])}{unit}{change} "
            f"-> target {_n(m['target'])}")
        way = "--" if m["progress"] is None else f"{m['progress']}%"
        trend = (f"{m['trend']} for {plural(m['trend_rounds'], 'reading')}"
                 if m["trend"] else "no trend yet")
        fresh = ("reported this round" if m["freshness"] == 0
                 else f"not reported for {plural(m['freshness'], 'round')}")
        to_go = None if m["variance"] is None else abs(m["variance"])
        add(f"      {way} of the way, {_n(to_go)} to go; {trend}; {fresh}")
        if m.get("story"):
            add(f"      story: {m['story']}")
    if not view["metrics"]:
        add("  no metrics yet")
    n = view["numbers"]
    add("")
    add("The coalition")
    add(f"  Response: {_pct(n['response_rate'])} (trend {_trend(n['response_trend'], True)})")
    completion = "--" if n["completion"] is None else f"{n['completion']:.0f}%"
    add(f"  Commitments kept (done or on track): {completion}; "
        f"{plural(n['open_commitments'], 'open commitment')}; "
        f"{view['commitments']['overdue']} overdue")
    add(f"  Convener load: {_pct(n['convener_load'])} of open commitments with {n['convener']}")
    add(f"  Pulse: {_n(n['pulse_average'], 2)} / 5 (trend {_trend(n['pulse_trend'])})")
    h = n["help_network"]
    add(f"  Help network: {plural(h['ties'], 'tie')} reaching "
        f"{plural(h['reaches'], 'organisation')}, {h['confirmed']} confirmed by both sides, "
        f"{_pct(h['direct_share'])} not through the convener")
    add(f"  Wins in recent rounds: {' '.join(str(w) for w in n['wins_recent']) or 'none'}"
        f" ({plural(n['weeks_since_last_win'], 'week')} since the last)")
    if n.get("echo_rate") is not None:
        add(f"  Win echo: {n['echo_rate']:.0f}%")
    return "\n".join(lines) + "\n"


def sparkline_points(values: Sequence[float | None], width: int = 120, height: int = 28,
                     pad: int = 3) -> str:
    """Return SVG polyline points for a history (gaps skipped), scaled into width x height."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return ""
    low = min(v for _, v in known)
    high = max(v for _, v in known)
    span = high - low or 1.0
    steps = max(len(values) - 1, 1)
    return " ".join(
        f"{pad + (width - 2 * pad) * i / steps:.1f},"
        f"{height - pad - (height - 2 * pad) * (v - low) / span:.1f}"
        for i, v in known)
