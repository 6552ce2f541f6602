"""The kind of fact a question asks for, and whether a passage gives one."""

from __future__ import annotations

import pytest

from chatbot.question.answer_kinds import KINDS, expected_kind, gives


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much does CAR-T cost?", "cost"),
        ("does insurance cover a stem cell transplant?", "cost"),
        ("can we afford the new drugs", "cost"),
        ("Is there a clinical trial near me?", "place"),
        ("are there support groups in our area?", "place"),
        ("at what age do people usually get myeloma?", "age"),
        ("how old are most patients?", "age"),
        ("what percentage of people are alive after five years?", "statistic"),
        ("what is the life expectancy with refractory myeloma?", "statistic"),
        ("what are his chances of beating it?", "statistic"),
        ("whats the chance it comes back", "statistic"),
        ("what’s the likelihood of a relapse?", "statistic"),
        ("how long does a stem cell transplant take?", "duration"),
        ("how many weeks in hospital after the transplant?", "duration"),
        # Questions whose wording asks for no particular kind of fact.
        ("how many types of refractory myeloma are there?", ""),  # a list, not a statistic
        ("will the newer treatments be available at our local hospital?", ""),  # availability
        ("how much does radiation help?", ""),  # "how much" without money
        ("What is refractory myeloma?", ""),
        ("why did the treatment stop working?", ""),
    ],
)
def test_what_a_question_asks_for(question: str, kind: str) -> None:
    assert expected_kind(question) == kind


@pytest.mark.parametrize(
    ("kind", "passage", "given"),
    [
        ("cost", "The treatment costs about $10,000 a month.", True),
        ("cost", "Ask your insurer whether it is covered.", True),
        ("cost", "CAR T-cell therapy reprograms the immune cells to attack the cancer.", False),
        ("place", "Use the trial locator to find a study near you.", True),
        ("place", "Clinical trials test new drugs.", False),
        ("age", "Myeloma is most common in people over 65.", True),
        ("age", "Most patients are older adults.", True),
        ("age", "Myeloma is a cancer of the plasma cells.", False),
        ("statistic", "About 55% of patients are alive five years later.", True),
        ("statistic", "Half of the patients respond.", True),
        ("statistic", "Many patients respond to treatment.", False),
        ("duration", "Recovery takes two to three weeks.", True),
        ("duration", "You stay in hospital for a few weeks.", True),
        ("duration", "The side effects are usually temporary.", True),
        ("duration", "Recovery can be slow and tiring.", False),
        ("", "Anything at all.", True),
    ],
)
def test_whether_a_passage_gives_the_kind(kind: str, passage: str, given: bool) -> None:
    assert gives(kind, passage) is given


def test_a_question_asking_for_two_kinds_takes_the_first_in_order() -> None:
    question = "how long will insurance pay for the transplant?"
    asked = [k.name for k in KINDS if k.question.search(question)]
    assert asked == ["cost", "duration"] and expected_kind(question) == "cost"
