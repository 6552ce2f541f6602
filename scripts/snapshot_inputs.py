"""Every question of tests/data/*.jsonl as `chatbot ask --json` lines, for scripts/snapshot_outputs.sh.

Each row's question (or text), its history, repeated as the row says and capped at 20,000
characters: the evaluation sets, the safety sets and the hostile inputs, 844 lines in all.
Usage: python scripts/snapshot_inputs.py REPO OUT.jsonl
"""

import json
import sys
from pathlib import Path


def main(repo: Path, out: Path) -> None:
    with out.open("w", encoding="utf-8") as sink:
        for f in sorted((repo / "tests" / "data").glob("*.jsonl")):
            for line in f.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                question = row.get("question", row.get("text"))
                if not isinstance(question, str):
                    continue
                question = (question * int(row.get("repeat", 1)))[:20000]
                history = row.get("history") or []
                history = (
                    [h if isinstance(h, str) else json.dumps(h) for h in history]
                    if isinstance(history, list)
                    else [json.dumps(history)]
                )
                sink.write(json.dumps({"question": question, "history": history}) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
