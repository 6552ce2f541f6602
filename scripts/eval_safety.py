"""Measure the safety checks on the labelled message sets and fail if the bar is not met.

The bar (issue 4): every urgent message raises an alert of a sensible kind, and no ordinary
question raises any alert. Advice framing is reported as precision and recall on its own set.
Run from the project root:  python scripts/eval_safety.py  [--verbose] [FILE.jsonl ...]
(naming files limits the run to them, e.g. the dev set while tuning, so the held-out set stays unseen)
Exit 0 when the bar is met, 1 when it is not, 2 when a data file is missing or malformed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `python scripts/eval_safety.py` finds the chatbot package

from chatbot.safety.advice import advice_framing  # noqa: E402
from chatbot.safety.match import check_message  # noqa: E402

DATA = ROOT / "tests" / "data"
SAFETY_FILES = ("safety_dev.jsonl", "safety_tune2.jsonl", "safety_heldout.jsonl")
ADVICE_FILE = "advice_dev.jsonl"


def acceptable(label: str, kind: str) -> bool:
    """Whether an alert of `kind` is a sensible answer to a message labelled `label`.

    An emergency card for an urgent message still sends the person for help at once (and the
    emergency number is the right call if the care team cannot be reached), so it is accepted.
    A crisis must get the crisis card itself.
    """
    return kind == label or (kind == "emergency" and label == "urgent")


@dataclass(frozen=True)
class SafetyScore:
    urgent: int
    alerted: int
    right_kind: int
    ordinary: int
    false_alerts: int
    misses: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.right_kind == self.urgent and self.false_alerts == 0


def read_jsonl(path: Path) -> list[dict[str, object]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{path}: cannot read ({err}). Fix: one JSON object per line.") from None


def score_safety(path: Path) -> SafetyScore:
    urgent = alerted = right = ordinary = false = 0
    misses: list[str] = []
    for row in read_jsonl(path):
        text, label = str(row["text"]), row.get("kind")
        alert = check_message(text)
        if label is None:
            ordinary += 1
            if alert is not None:
                false += 1
                misses.append(f"false alert {alert.kind}/{alert.rule}: {text}")
            continue
        urgent += 1
        alerted += alert is not None
        if alert is not None and acceptable(str(label), alert.kind):
            right += 1
        else:
            misses.append(f"missed {label} (got {alert.kind if alert else None}): {text}")
    return SafetyScore(urgent, alerted, right, ordinary, false, tuple(misses))


def score_advice(path: Path) -> tuple[float, float, list[str]]:
    tp = fp = fn = 0
    misses: list[str] = []
    for row in read_jsonl(path):
        text, want = str(row["text"]), bool(row["advice"])
        got = advice_framing(text) is not None
        tp += got and want
        fp += got and not want
        fn += want and not got
        if got != want:
            misses.append(f"advice {'false positive' if got else 'missed'}: {text}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, misses


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv or "-v" in argv
    names = [a for a in argv if not a.startswith("-")]
    ok = True
    for name in [n for n in names if n != ADVICE_FILE] if names else SAFETY_FILES:
        s = score_safety(DATA / name)
        ok &= s.passed
        print(
            f"{name}: urgent {s.urgent}, alerted {s.alerted}/{s.urgent}, "
            f"right kind {s.right_kind}/{s.urgent}; ordinary {s.ordinary}, "
            f"false alerts {s.false_alerts}/{s.ordinary}  "
            f"[{'PASS' if s.passed else 'FAIL'}]"
        )
        for line in s.misses if verbose or not s.passed else ():
            print("   ", line)
    if names and ADVICE_FILE not in names:
        return 0 if ok else 1
    precision, recall, misses = score_advice(DATA / ADVICE_FILE)
    advice_ok = precision >= 0.9 and recall >= 0.9
    ok &= advice_ok
    print(
        f"{ADVICE_FILE}: advice precision {precision:.3f}, recall {recall:.3f}  "
        f"[{'PASS' if advice_ok else 'FAIL'}]"
    )
    for line in misses if verbose or not advice_ok else ():
        print("   ", line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
