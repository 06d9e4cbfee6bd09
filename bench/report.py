"""Turns bench/run.sh's measurements into a Markdown table and an SVG chart.

Usage (run.sh calls it):
  report.py ROWS.tsv DATE MACHINE IDLE_RSS_KB IDLE_THREADS ERRORS_5XX LOAD IDLE.tsv RESULTS.md CHART.svg

ROWS.tsv has one line per scenario: name, req/s, p50, p99, peak RSS (kB),
errors. IDLE.tsv has bench/idle.py's line. Ratios are to "nginx static
200", the HTTP ceiling of the machine, measured in the same run. The
targets are issue #13's. Standard library only.
"""

import sys
from html import escape

BASELINE = "nginx static 200"
MIB = 1024


def millis(text):
    """wrk's latency ("812.00us", "3.31ms", "1.02s") in milliseconds."""
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float("nan")


def main():
    (rows_path, date, machine, idle_rss, idle_threads, errors_5xx, load, idle_path,
     results_path, chart_path) = sys.argv[1:11]
    rows = []
    with open(rows_path) as rows_file:
        for line in rows_file:
            name, rps, p50, p99, rss, errors = (line.rstrip("\n").split("\t") + [""] * 6)[:6]
            rows.append((name, float(rps or 0), p50, p99, int(rss or 0), errors))
    by_name = {row[0]: row for row in rows}
    baseline = by_name[BASELINE][1]
    with open(idle_path) as idle_file:
        held, threads_before, threads_held, rss_before, rss_held, fresh_ms = idle_file.read().split()

    lines = [
        f"# Benchmark, {date}",
        "",
        f"Machine: {machine}. Load: `{load}` per scenario (connections kept alive, as wrk",
        "does), on loopback, unless the scenario says otherwise.",
        f"taskapi after start: {int(idle_rss) / MIB:.1f} MiB RSS, {idle_threads} threads. "
        f"5xx responses during the run: {errors_5xx}.",
        f"Ratio: req/s relative to `{BASELINE}` (nginx-light, 2 workers) in the same run.",
        "",
        "| scenario | req/s | p50 | p99 | RSS peak | ratio | errors |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, rps, p50, p99, rss, errors in rows:
        lines.append(
            f"| {name} | {rps:,.0f} | {p50} | {p99} | {rss / MIB:.1f} MiB "
            f"| {rps / baseline:.0%} | {errors or '-'} |"
        )
    lines += [
        "",
        f"{int(held):,} idle keep-alive connections held: {int(rss_held) / MIB:.1f} MiB RSS "
        f"(from {int(rss_before) / MIB:.1f}), {threads_held} threads (from {threads_before}); "
        f"a request on a new connection then took {fresh_ms} ms.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]

    def target(text, measured, met):
        lines.append(f"| {text} | {measured} | {'yes' if met else '**no**'} |")

    def ratio(name):
        return by_name[name][1] / baseline

    target("`GET /tasks/{id}` >= 40 % of nginx (aim 50 %)",
           f"{ratio('GET /tasks/{id}'):.0%}", ratio("GET /tasks/{id}") >= 0.40)
    target("`GET /tasks` (50 rows) >= 15 % of nginx",
           f"{ratio('GET /tasks (50 rows)'):.0%}", ratio("GET /tasks (50 rows)") >= 0.15)
    post, post_close = by_name["POST /tasks"][1], by_name["POST /tasks, Connection: close"][1]
    target("`POST /tasks` faster than with `Connection: close`",
           f"{post:,.0f} vs {post_close:,.0f} req/s", post > post_close)
    wide, narrow = by_name["GET /tasks/{id}, 256 connections"], by_name["GET /tasks/{id}"]
    target("at 256 connections, >= 80 % of the 32-connection rate",
           f"{wide[1] / narrow[1]:.0%}", wide[1] >= 0.8 * narrow[1])
    target("at 256 connections, p99 <= 25 ms", wide[3], millis(wide[3]) <= 25)
    peak = max(rss for name, _, _, _, rss, _ in rows if not name.startswith(("nginx", "tiny_http", "login")))
    target("server RSS <= 24 MiB under these loads (login aside)", f"{peak / MIB:.1f} MiB", peak <= 24 * MIB)
    target("10,000 idle connections: RSS <= 48 MiB", f"{int(rss_held) / MIB:.1f} MiB",
           int(rss_held) <= 48 * MIB)
    target("10,000 idle connections: thread count unchanged", f"{threads_before} -> {threads_held}",
           threads_before == threads_held)

    with open(results_path, "w") as results:
        results.write("\n".join(lines) + "\n")

    write_chart(chart_path, rows, baseline, date, machine, load)


def write_chart(path, rows, baseline, date, machine, load):
    """Horizontal bars of req/s per scenario, the baseline drawn as a line."""
    width, left, right, bar, gap, top = 900, 230, 90, 22, 10, 70
    height = top + len(rows) * (bar + gap) + 40
    peak = max(rps for _, rps, *_ in rows) or 1
    scale = (width - left - right) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold">taskapi throughput (req/s)</text>',
        f'<text x="{left}" y="44" fill="#555">{escape(date)} · {escape(machine)}</text>',
        f'<text x="{left}" y="60" fill="#555">{escape(load)}, keep-alive; dashed line: 40 % of '
        f"nginx (the target for GET /tasks/{{id}})</text>",
    ]
    for index, (name, rps, *_rest) in enumerate(rows):
        y = top + index * (bar + gap)
        colour = "#9aa5b1" if name.startswith(("nginx", "tiny_http")) else "#2b6cb0"
        parts.append(f'<text x="{left - 8}" y="{y + bar - 6}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{max(rps * scale, 1):.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(f'<text x="{left + rps * scale + 6:.1f}" y="{y + bar - 6}">{rps:,.0f}</text>')
    x = left + 0.4 * baseline * scale
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" '
        f'stroke="#c53030" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    with open(path, "w") as chart:
        chart.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
