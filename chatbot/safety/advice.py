"""Spot questions that ask for a personal medical decision.

An article cannot decide someone's dose or whether they should stop a treatment. Such a
question ("should I stop my treatment?", "can I take ibuprofen with my chemo?", "what dose
should I take?") is still answered with the relevant passages, but framed as something to
discuss with the care team, never as a yes or no. The phrases live in the [[advice]] tables of
`chatbot/safety/safety.toml`, matched by the same typo-tolerant engine as the safety rules.
"""

from __future__ import annotations

from chatbot.safety.match import RuleSet, fired_rules

DISCUSS_WITH_CARE_TEAM = "discuss-with-care-team"


def advice_framing(text: str, rules: RuleSet | None = None) -> str | None:
    """ "discuss-with-care-team" when `text` asks for a personal medical decision, else None."""
    return DISCUSS_WITH_CARE_TEAM if fired_rules(text, "advice", rules) else None
