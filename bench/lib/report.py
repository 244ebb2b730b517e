"""The Markdown table of one `bench/run`."""


def _f(x, fmt):
    return "-" if x is None else format(x, fmt)


def markdown(doc, scenarios):
    o = doc["options"]
    lines = [
        f"gatehouse bench, {doc['date']}, {doc['machine']['cpu']} ({doc['machine']['cores']} "
        f"cores), {'pinned' if o['pinned'] else 'unpinned'}, {o['repetitions']} x "
        f"{o['duration_s']:g} s, medians.",
        "",
    ]
    for conns in o["connections"]:
        c = str(conns)
        lines += [
            f"**{conns} connections**",
            "",
            "| | scenario | rps | x base | p50 ms | p99 ms | CPU us/req (all) "
            "| CPU us/req (gateway) | peak RSS MB |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for sid, what, _, base in scenarios:
            s = doc["scenarios"].get(sid, {}).get(c)
            if s is None:
                state = "failed" if sid in doc["failed"] else "not run"
                lines.append(f"| {sid} | {what} | {state} | | | | | | |")
                continue
            m = s["median"]
            ratio = doc["ratios_to_base"][c].get(sid)
            rss = s["peak_rss_kb"]
            lines.append(
                f"| {sid} | {what} | {_f(m['rps'], ',.0f')} | "
                f"{_f(ratio, '.2f')} {base if sid != base else ''} | {_f(m['p50_ms'], '.2f')} | "
                f"{_f(m['p99_ms'], '.2f')} | {_f(m['cpu_us'], '.1f')} | "
                f"{_f(m['cpu_gw_us'], '.1f')} | {_f(rss and rss / 1024, '.1f')} |")
        lines.append("")
    lines += ["| target | connections | ratio | met |", "|---|--:|--:|---|"]
    for t in doc["targets"]:
        if t["ratio"] is None and not doc["failed"]:
            continue  # not run (--only)
        # Three decimals where two would round a miss up to the target (2.997 -> "3.00").
        near = t["ratio"] is not None and f"{t['ratio']:.2f}" == f"{t['want']:.2f}"
        lines.append(f"| {t['target']} | {t['connections']} | "
                     f"{_f(t['ratio'], '.3f' if near else '.2f')} | "
                     f"{'yes' if t['met'] else '**no**'} |")
    for m in doc["memory"]:
        lines.append(f"| {m['target']} | | {_f(m['kb'] and m['kb'] / 1024, '.1f')} MB | "
                     f"{'yes' if m['met'] else '**no**'} |")
    if doc["failed"]:
        lines += ["", f"FAILED: {', '.join(doc['failed'])}"]
    return "\n".join(lines) + "\n"
