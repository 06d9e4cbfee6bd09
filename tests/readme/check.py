"""The README's walkthrough runs as written, twice in a row on one database.

Usage: check.py README BASE_URL

Takes every ```sh block from "## Walkthrough with curl" up to
"## Configuration" (commands that are not part of the walkthrough, such as
starting a second server, are fenced as ```bash there and left out), and
runs them in order as one bash script with `set -eu -o pipefail`, with
http://127.0.0.1:8000 replaced by BASE_URL. `curl` is wrapped to record
the status of every request. Then it runs the same script again, on the
same server and database. It checks:
- both runs give the same statuses, request by request (the outputs may
  differ: ids and timestamps do);
- no status is a 5xx;
- the statuses that are not 2xx are, in order, the ones the README shows
  in its answers (`"status":404` and so on), so an error the README does
  not show is a failure, and so is an error it shows that does not happen.
Standard library only; the script is bounded by a timeout.
"""

import os
import re
import subprocess
import sys
import tempfile

readme_path, base = sys.argv[1], sys.argv[2]
readme = open(readme_path, encoding="utf-8").read()
start = readme.index("## Walkthrough with curl")
end = readme.index("## Configuration", start)
section = readme[start:end]

# Every fenced block in order, with its info string: ("sh", text), ...
fenced = re.findall(r"^```(\w*)\n(.*?)^```", section, re.S | re.M)
blocks = [text for kind, text in fenced if kind == "sh"]
if len(blocks) < 10:
    raise SystemExit(f"FAIL: found only {len(blocks)} sh blocks in the walkthrough")
# The statuses the README shows: in the answer printed right after a block.
shown = [
    int(status)
    for (kind, _), (answer_kind, answer) in zip(fenced, fenced[1:])
    if kind == "sh" and answer_kind in ("json", "text", "")
    for status in re.findall(r'"status":(\d{3})', answer)
]
script = "\n".join(blocks).replace("http://127.0.0.1:8000", base)


def run(round_number):
    with tempfile.TemporaryDirectory() as work:
        statuses = os.path.join(work, "statuses")
        wrapped = (
            "set -eu -o pipefail\n"
            # Every request's status goes to a file; the output is left as
            # the README's readers see it.
            f"curl() {{ command curl -w '%{{stderr}}%{{http_code}}\\n' \"$@\" 2>>'{statuses}'; }}\n"
            + script
        )
        done = subprocess.run(
            ["bash", "-c", wrapped],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=work,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"FAIL: round {round_number} exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )
        with open(statuses) as f:
            return [int(line) for line in f.read().split()]


first = run(1)
second = run(2)
print(f"{len(blocks)} blocks, {len(first)} requests; statuses: {first}")
if first != second:
    raise SystemExit(f"FAIL: the second run differs:\n first: {first}\nsecond: {second}")
if any(status >= 500 for status in first):
    raise SystemExit(f"FAIL: a 5xx: {first}")
errors = [status for status in first if status >= 300]
if errors != shown:
    raise SystemExit(
        f"FAIL: the errors the walkthrough gets, {errors}, are not the ones the README shows, {shown}"
    )
print("ok: the walkthrough ran twice in a row with the same statuses, and the errors the README shows")
