"""What kind of answer a question asks for, and whether a passage gives one.

Some questions ask for a particular kind of fact: a cost ("how much does CAR-T cost?"), a number
or rate ("what percentage survive five years?"), a length of time ("how long does it take?"), an
age, or a place near the asker. A passage can be about the right topic and still not give that
fact: an article that explains CAR-T but names no price does not answer what it costs. Semantic
similarity cannot see the difference (the passage about CAR-T matches the question well), so the
expected kind of answer is checked as classic question-answering systems did (TREC's answer types):
the question says what it expects, and at least one passage found must contain an expression of
that kind, or the question is taken as not covered.

The kinds are general, not keyed to one corpus: a document that does give prices makes cost
questions answerable again. Both patterns of a kind are deliberately narrow: a question is typed
only by unambiguous wording ("how many types are there?" asks for a list, not a statistic), and a
passage counts as giving the kind on any plausible expression of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = (
    r"(?:\d+(?:[.,]\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|few|several|many|some|couple of)"
)
_TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|decades?)"


@dataclass(frozen=True)
class AnswerKind:
    """A kind of fact a question can ask for."""

    name: str
    label: str  # what the question asks for, as staff and users read it: "a cost or price"
    question: re.Pattern[str]  # wording that asks for this kind
    passage: re.Pattern[str]  # an expression that gives it


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


KINDS = (
    AnswerKind(
        "cost",
        "a cost or price",
        _pattern(
            r"\b(costs?|costing|costly|prices?|pricing|afford\w*|expensive|cheap(er|est)?|insurance|insured"
            r"|insurers?|medicare|medicaid|co-?pays?|out[- ]of[- ]pocket|pay for|paying for|reimburs\w*)\b"
        ),
        _pattern(
            r"[$£€¥]|\b(costs?|costly|prices?|pricing|expensive|afford\w*|insurance|insured|insurers?"
            r"|dollars?|euros?|fees?|payments?|financ\w*|reimburs\w*|medicare|medicaid|co-?pays?)\b"
        ),
    ),
    AnswerKind(
        "place",
        "a place near you",
        _pattern(
            r"\b(near (me|us|here|where (i|we) live)|nearby|around here|close to (me|us|home)"
            r"|in (my|our) (area|town|city|region|state|county|country|neighbou?rhood))\b"
        ),
        _pattern(
            r"\b(near you|nearby|nearest|in your (area|town|city|region|state|county|country)|locator"
            r"|directory|directories)\b"
        ),
    ),
    AnswerKind(
        "age",
        "an age",
        _pattern(r"\b(at what age|what age|which age|how old|age group)\b"),
        _pattern(r"\b(ages?|aged|older|younger|elderly|years? old|\d+s)\b|\b\d{2}\b"),
    ),
    AnswerKind(
        "statistic",
        "a number or rate",
        _pattern(
            r"\b(what percent(age)?|what proportion|what fraction|how many (people|patients|persons|men"
            r"|women|children|adults|cases)|survival rates?|life expectancy|odds of"
            r"|what are (the|my|his|her|their|our) (odds|chances)"
            r"|what(['’]?s| is) the (chance|likelihood|probability))\b"
        ),
        _pattern(
            r"\d|%|\b(percent|per cent|percentage|proportion|half|one in|out of every|majority|median|average"
            r"|probability|survival rates?)\b"
        ),
    ),
    AnswerKind(
        "dose",
        "a dose",
        _pattern(
            r"(?<![-\w])(?<!high )(?<!low )(?<!higher )(doses?|dosages?|dosing)\b"
            r"|\b(how many (mg|milligrams?|tablets|pills|capsules|gy|grays?)"
            r"|how much (of it|should (i|he|she|we) take|do (i|they) take)|mg|milligrams?|gy)\b"
        ),
        _pattern(r"\b\d+(?:[.,]\d+)?\s?(?:mg|milligrams?|mcg|micrograms?|ml|g|gy|grays?|units?)\b|mg/m"),
    ),
    AnswerKind(
        "date",
        "a date",
        _pattern(
            r"\b(what year|which year|what date|in what year|when (was|were|did) \w+(?: \w+)? "
            r"(first )?(approved|discovered|invented|introduced|licensed|launched|start(ed)?))\b"
        ),
        _pattern(
            # Month names that are also everyday words ("may", "march") are left out.
            r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|april|june|july|august|september"
            r"|october|november|december)\b"
        ),
    ),
    AnswerKind(
        "duration",
        "a length of time",
        _pattern(rf"\b(how long|for how long|how soon|how (many|much) (more )?({_TIME_UNIT}|time))\b"),
        _pattern(
            rf"\b{_NUMBER}[\s-]+(more[\s-]+)?(to[\s-]+{_NUMBER}[\s-]+)?{_TIME_UNIT}\b"
            rf"|\bfor {_TIME_UNIT}\b|\b(overnight|lifelong|life-long|permanent\w*|temporar\w*|long[- ]term"
            r"|short[- ]term|daily|weekly|monthly|yearly|annually|indefinitely)\b"
        ),
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}


def expected_kind(question: str) -> str:
    """The name of the kind of fact `question` asks for (the first that its wording asks for, in
    `KINDS` order), or "" for a question that asks for none in particular."""
    for kind in KINDS:
        if kind.question.search(question):
            return kind.name
    return ""


def gives(kind: str, text: str) -> bool:
    """Whether `text` contains an expression of the kind named `kind` ("" is given by anything)."""
    return not kind or BY_NAME[kind].passage.search(text) is not None
