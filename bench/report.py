"""Turns bench/run.sh's measurements into a Markdown table and an SVG chart.

Usage (run.sh calls it):
  report.py ROWS.tsv DATE MACHINE IDLE_RSS_KB SUPERVISOR_RSS_KB ERRORS_5XX LOAD RESULTS.md CHART.svg

ROWS.tsv has one line per scenario: name, req/s, p50, p99, peak RSS (kB),
errors. Ratios are to "hello, Connection: close", the bare tiny_http server
under the same connection policy as taskapi. Standard library only.
"""

import sys
from html import escape

BASELINE = "hello, Connection: close"


def main():
    rows_path, date, machine, idle_rss, supervisor_rss, errors_5xx, load, results_path, chart_path = sys.argv[1:10]
    rows = []
    with open(rows_path) as rows_file:
        for line in rows_file:
            name, rps, p50, p99, rss, errors = (line.rstrip("\n").split("\t") + [""] * 6)[:6]
            rows.append((name, float(rps or 0), p50, p99, int(rss or 0), errors))
    baseline = next(rps for name, rps, *_ in rows if name == BASELINE)

    lines = [
        f"# Benchmark, {date}",
        "",
        f"Machine: {machine}. Load: `{load}` per scenario, on loopback.",
        f"taskapi idle RSS after start: {int(idle_rss) / 1024:.1f} MiB (server process), "
        f"plus {int(supervisor_rss) / 1024:.1f} MiB (supervisor). 5xx responses during the run: {errors_5xx}.",
        "RSS peak below is the server process's.",
        f"Ratio: req/s relative to `{BASELINE}` measured in the same run.",
        "Socket read errors on the hello server under `Connection: close` are wrk",
        "counting the server closing each connection, as it was asked to.",
        "",
        "| scenario | req/s | p50 | p99 | RSS peak | ratio | errors |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, rps, p50, p99, rss, errors in rows:
        lines.append(
            f"| {name} | {rps:,.0f} | {p50} | {p99} | {rss / 1024:.1f} MiB "
            f"| {rps / baseline:.0%} | {errors or '-'} |"
        )
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
        f'<text x="{left}" y="60" fill="#555">{escape(load)}; dashed line: bare tiny_http, '
        f"Connection: close</text>",
    ]
    for index, (name, rps, *_rest) in enumerate(rows):
        y = top + index * (bar + gap)
        colour = "#9aa5b1" if name.startswith("hello") else "#2b6cb0"
        parts.append(f'<text x="{left - 8}" y="{y + bar - 6}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{max(rps * scale, 1):.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(f'<text x="{left + rps * scale + 6:.1f}" y="{y + bar - 6}">{rps:,.0f}</text>')
    x = left + baseline * scale
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" '
        f'stroke="#c53030" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    with open(path, "w") as chart:
        chart.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
