"""Reading what a message asks: the question inside a story, and the questions of a message that asks two."""

from __future__ import annotations

import pytest

from chatbot.question.message import LONG_MESSAGE_WORDS, read_message

STORY = (
    "I was diagnosed with multiple myeloma three years ago and had a stem cell transplant. It worked "
    "for a while but now my numbers are going up again and the doctor said the tablets are not working "
    "any more. I am scared. What are my options now?"
)


def test_a_story_told_first_is_background_and_the_question_is_what_is_searched() -> None:
    reading = read_message(STORY)
    assert reading.asked == "What are my options now?" and reading.parts == ("What are my options now?",)
    assert reading.background.startswith("I was diagnosed") and "I am scared." in reading.background


def test_a_question_in_the_middle_of_a_story_is_found() -> None:
    message = (
        STORY.replace("What are my options now?", "")
        + " "
        + (
            "My sister keeps telling me to stay positive and I try. Anyway, what are the treatment options? "
            "Thanks for listening, it has been a long week for all of us."
        )
    )
    assert read_message(message).asked == "Anyway, what are the treatment options?"


def test_a_statement_that_opens_like_a_question_is_background_when_the_message_marks_its_questions() -> None:
    message = (
        "When the doctor said refractory I honestly heard a death sentence and went home and cried for "
        "two days, my partner is being amazing but I can see she is scared too. Is this a death sentence?"
    )
    reading = read_message(message)
    assert reading.asked == "Is this a death sentence?" and reading.background.startswith("When the doctor")


def test_a_request_without_a_question_mark_still_asks() -> None:
    message = STORY.replace("What are my options now?", "Please explain what refractory means for me.")
    assert read_message(message).asked == "Please explain what refractory means for me."


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("what causes it and what are the symptoms?", ("what causes it", "what are the symptoms?")),
        ("how is it diagnosed? how is it treated?", ("how is it diagnosed?", "how is it treated?")),
        ("What is refractory myeloma?", ("What is refractory myeloma?",)),
        ("is it curable or not", ("is it curable or not",)),  # "or not" is no second question
        ("I'm tired. Is that normal?", ("I'm tired. Is that normal?",)),  # short: read whole
    ],
)
def test_two_questions_in_one_are_two_parts(message: str, parts: tuple[str, ...]) -> None:
    assert read_message(message).parts == parts


def test_a_short_message_has_no_background() -> None:
    message = "I'm tired all the time. Is that the myeloma?"
    assert len(message.split()) < LONG_MESSAGE_WORDS
    reading = read_message(message)
    assert reading.background == "" and reading.asked == message


def test_a_message_that_asks_nothing_is_read_whole() -> None:
    message = "fatigue"
    reading = read_message(message)
    assert reading.asked == "fatigue" and reading.parts == ("fatigue",) and not reading.background
