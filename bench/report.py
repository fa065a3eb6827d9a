"""The fan-out benchmark's report: percentiles from wsflood's histograms,
the judgement of every delivery against the acks, and the markdown table."""
from collections import Counter

def percentiles(pairs: list[tuple[float, int]]) -> dict:
    """p50/p99/max of weighted values (ms)."""
    if not pairs:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    pairs.sort()
    total = sum(w for _, w in pairs)
    out, acc, marks = {}, 0, [("p50", 0.50), ("p99", 0.99)]
    for value, weight in pairs:
        acc += weight
        while marks and acc >= marks[0][1] * total:
            out[marks.pop(0)[0]] = round(value, 2)
    out["max"] = round(pairs[-1][0], 2)
    out["n"] = total
    return out


def bucket_mid_us(b: int, linear: int, sub_bits: int) -> float:
    """Middle of wsflood's log-linear histogram bucket b, in microseconds."""
    if b < linear:
        return b + 0.5
    sub = 1 << sub_bits
    e = sub_bits + 1 + (b - linear) // sub
    width = 1 << (e - sub_bits)
    return ((sub + (b - linear) % sub) << (e - sub_bits)) + width / 2


def analyse(args, bidders, results: list[dict], first_send: int) -> dict:
    """Merge the watcher processes' per-seq aggregates and judge them against the acks."""
    # (lot, seq) -> [receivers, first_ns, last_ns, [(proc_first_ns, hist, linear, sub_bits)]]
    seen: dict[tuple[str, int], list] = {}
    gaps = dups = wrong_lot = closed = 0
    finals: dict[str, Counter] = {}
    watching: Counter = Counter()
    for r in results:
        closed += r["closed_in_run"]
        for lot in r["lots"]:
            gaps, dups, wrong_lot = gaps + lot["gaps"], dups + lot["dups"], wrong_lot + lot["wrong_lot"]
            watching[lot["id"]] += lot["watchers"]
            fin = finals.setdefault(lot["id"], Counter())
            for seq, price, count in lot["final"]:
                fin[(seq, price)] += count
            fin[None] += lot["final_other"]
            for seq, count, first, last, hist in lot["seqs"]:
                agg = seen.setdefault((lot["id"], seq), [0, first, last, []])
                agg[0] += count
                agg[1], agg[2] = min(agg[1], first), max(agg[2], last)
                agg[3].append((first, hist, r["hist"]["linear"], r["hist"]["sub_bits"]))

    acked = [b for b in bidders.bids.values() if b.ack_ns]
    ack_ms = [((b.ack_ns - b.sent_ns) / 1e6, 1) for b in acked]
    fanout, e2e, delivery, timeline = [], [], [], []
    missing = extra = incomplete = 0
    for b in acked:
        agg = seen.get((b.lot, b.seq))
        want = watching[b.lot]
        got = agg[0] if agg else 0
        missing += max(0, want - got)
        extra += max(0, got - want)
        if not agg or got < want:
            incomplete += 1
            continue
        fanout.append(((agg[2] - b.ack_ns) / 1e6, 1))
        timeline.append([b.lot, b.seq, round((b.sent_ns - first_send) / 1e6, 1), round((b.ack_ns - b.sent_ns) / 1e6, 1),
                         round((agg[2] - b.ack_ns) / 1e6, 1)])
        e2e.append(((agg[2] - b.sent_ns) / 1e6, 1))
        for first, hist, linear, sub_bits in agg[3]:
            for i in range(0, len(hist), 2):
                t = first + bucket_mid_us(hist[i], linear, sub_bits) * 1000
                delivery.append(((t - b.ack_ns) / 1e6, hist[i + 1]))
    acked_keys = {(b.lot, b.seq) for b in acked}
    unacked_seen = sum(1 for key in seen if key not in acked_keys)

    final_mismatch = 0
    for lot_id, lot in bidders.state.items():
        top = max(lot.acked, key=lambda b: b.seq, default=None)
        for key, count in finals.get(lot_id, {}).items():
            if top is not None and key != (top.seq, top.price):
                final_mismatch += count

    frames = sum(r["bid_frames"] for r in results)
    last_frame = max((r["last_frame_ns"] for r in results), default=0)
    span = (last_frame - first_send) / 1e9 if last_frame > first_send else 0
    errors = Counter(b.error for b in bidders.bids.values() if b.error)
    violations = {
        "missing_deliveries": missing, "extra_deliveries": extra, "gaps": gaps, "duplicates_or_reordered": dups,
        "wrong_lot": wrong_lot, "final_price_mismatch": final_mismatch, "closed_during_run": closed,
        "seen_but_not_acked": unacked_seen,
    }
    return {
        "connections": {
            "watchers": args.watchers, "watchers_opened": sum(r["opened"] for r in results),
            "watcher_retries": sum(r["retries"] for r in results), "watcher_procs": len(results),
        },
        "bids": {
            "sent": len(bidders.bids), "acked": len(acked), "errors": dict(errors),
            "unanswered": bidders.unanswered, "sent_late": bidders.late,
        },
        "ack_ms": percentiles(ack_ms),
        "fanout_ms": percentiles(fanout),
        "delivery_ms": percentiles(delivery),
        "send_to_last_ms": percentiles(e2e),
        "delivered": {"frames": frames, "span_s": round(span, 2),
                      "per_s": round(frames / span) if span else 0,
                      "offered_per_s": round(args.rate * args.watchers / args.lots),
                      "incomplete_seqs": incomplete},
        "correctness": {"ok": not any(violations.values()), **violations},
        "per_bid": sorted(timeline, key=lambda row: row[2]),  # [lot, seq, sent ms from the first, ack ms, fan-out ms]
    }


# ---- report -----------------------------------------------------------------

ROWS = [
    ("watchers ready / failed", lambda r: f"{r['connections']['watchers_ready']} / {r['connections']['watchers_failed']}"),
    ("watcher connect time (s)", lambda r: r["connections"]["connect_s"]),
    ("bids sent / acked", lambda r: f"{r['bids']['sent']} / {r['bids']['acked']}"),
    ("bid errors", lambda r: ", ".join(f"{k} {v}" for k, v in r["bids"]["errors"].items()) or "none"),
    ("ack ms p50 / p99 / max", lambda r: _pct(r["ack_ms"])),
    ("fan-out ms (last watcher − ack) p50 / p99 / max", lambda r: _pct(r["fanout_ms"])),
    ("per-delivery ms (− ack) p50 / p99 / max", lambda r: _pct(r["delivery_ms"])),
    ("send → last watcher ms p50 / p99 / max", lambda r: _pct(r["send_to_last_ms"])),
    ("delivered frames / s (offered)", lambda r: f"{r['delivered']['per_s']:,} ({r['delivered']['offered_per_s']:,})"),
    ("frames delivered in span (s)", lambda r: f"{r['delivered']['frames']:,} in {r['delivered']['span_s']}"),
    ("server RSS before → after watchers (MB)", lambda r: f"{r['memory']['rss_before_mb']} → {r['memory']['rss_after_mb']}"),
    ("server kB per idle watcher", lambda r: r["memory"]["kb_per_watcher"]),
    ("server CPU s in bid phase (% of phase)", lambda r: f"{r['cpu']['server_tree_s']} ({r['cpu']['server_pct']}%)"),
    ("client CPU s wsflood + driver (% of phase)",
     lambda r: f"{r['cpu']['watchers_s']} + {r['cpu']['driver_s']} ({r['cpu']['client_pct']}%)"),
    ("machine CPU s outside the benchmark (interrupts, other work)", lambda r: r["cpu"]["others_s"]),
    ("correctness", lambda r: "ok" if r["correctness"]["ok"] else
     ", ".join(f"{k} {v}" for k, v in r["correctness"].items() if k != "ok" and v)),
]


def _pct(p: dict) -> str:
    return "–" if not p["n"] else f"{p['p50']} / {p['p99']} / {p['max']}"


def markdown(reports: dict[str, dict]) -> str:
    names = list(reports)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    if any("error" in r for r in reports.values()):
        lines.append("| error | " + " | ".join(reports[n].get("error", "") .replace("\n", " ")[:300]
                                                for n in names) + " |")
    for label, cell in ROWS:
        values = []
        for n in names:
            try:
                values.append(str(cell(reports[n])))
            except KeyError:
                values.append("–")
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------
