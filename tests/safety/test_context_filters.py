"""The context filters added for lists, recent resolved episodes, how-to-tell questions, hearsay
and pattern excludes: each one both ways, so a filter never hides a danger said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.safety.match import RULES_PATH, check_message, fired_rules, load_rules


def _kind(text: str) -> str | None:
    alert = check_message(text)
    return alert.kind if alert else None


# ---------------------------------------------------------------- negation over an "or" list


@pytest.mark.parametrize(
    "text",
    [
        "I am not having any chest pain or breathlessness, just a question about my next cycle",
        "she has no fever or shivering",
        "no vomiting or diarrhoea this time round",
    ],
)
def test_one_negation_covers_a_list_joined_by_or(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("no fever or chills but I can't breathe", "emergency"),  # "but" still ends the reach
        ("no chest pain or fever, and my legs have gone weak", "emergency"),
        ("I'm not having any chest pain but I'm breathless", "emergency"),
    ],
)
def test_the_list_does_not_carry_the_negation_past_its_end(text: str, kind: str) -> None:
    assert _kind(text) == kind


# ---------------------------------------------------------------- "gone" into another part


@pytest.mark.parametrize(
    "text", ["my belly has gone swollen", "his tummy has gone hard and swollen", "my legs have gone numb"]
)
def test_gone_followed_by_what_it_became_is_not_a_negation(text: str) -> None:
    assert check_message(text) is not None


def test_gone_on_its_own_still_negates() -> None:
    assert check_message("the swelling in my belly has gone") is None
    assert check_message("fever is gone") is None


# ---------------------------------------------------------------- how to tell


@pytest.mark.parametrize(
    "text",
    [
        "how can I tell if my port is infected?",
        "How would I know if I have high calcium? what are the signs",
        "how do you know if you have sepsis",
    ],
)
def test_asking_how_to_tell_is_a_condition(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I don't know if I have an infection, I'm shivering", "urgent"),  # not a how-to question
        ("not sure if I have an infection", "urgent"),
        ("how do I know if I'm having a heart attack my chest is so tight", "emergency"),  # more said
    ],
)
def test_not_knowing_or_saying_more_still_alerts(text: str, kind: str) -> None:
    assert _kind(text) == kind


# ---------------------------------------------------------------- recent, resolved episodes


@pytest.mark.parametrize(
    "text",
    [
        "he had a temperature of 38.9 last week and was admitted, he is home and well now",
        "two weeks ago I had chills with a cold, all good now",
        "my mum had a stroke three weeks ago. She has made a full recovery. Can she still have dara?",
    ],
)
def test_a_recent_episode_that_is_over_does_not_alert(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I had a fever last week", "urgent"),  # nothing says it is over
        ("had a fever last week, all good for a few days, but now it is back at 38.7", "urgent"),
        ("she had a fever last week and she is not all good now", "urgent"),  # a denied recovery
        ("I had chills last week, fine now. But tonight my temp is 38.4", "urgent"),
        ("my temperature was 38.6 an hour ago, took paracetamol and now it is 37.5, fine now", "urgent"),
        ("three weeks ago I had chest pain and now it is happening again", "emergency"),
    ],
)
def test_a_recent_episode_still_going_alerts(text: str, kind: str) -> None:
    assert _kind(text) == kind


def test_a_long_past_episode_said_to_be_controlled_now_does_not_alert() -> None:
    assert check_message("he had one seizure years ago, it is well controlled now") is None
    assert _kind("I had a seizure years ago and now I am having them again") == "emergency"


# ---------------------------------------------------------------- questions


@pytest.mark.parametrize(
    "text",
    [
        "Will I get a fever after CAR-T?",
        "will he be drowsy after the sedation?",
        "Is confusion a side effect of CAR-T? The leaflet mentioned it",
        "Can myeloma cause confusion? My friend's doctor said it can happen",
    ],
)
def test_a_question_ahead_of_time_or_about_hearsay_does_not_alert(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("will I be ok? I can't breathe", "emergency"),
        ("How long will my fever last after CAR-T?", "urgent"),  # "my fever": there is one now
        ("Can dex cause confusion? The nurse said it might and my mum has it now", "emergency"),
        ("Is chest pain normal after chemo? I have had it all day", "emergency"),
    ],
)
def test_a_question_tied_to_the_person_now_still_alerts(text: str, kind: str) -> None:
    assert _kind(text) == kind


# ---------------------------------------------------------------- exclude written as a pattern


def test_an_exclude_pattern_cancels_only_where_all_its_parts_occur(tmp_path: Path) -> None:
    text = RULES_PATH.read_text(encoding="utf-8")
    old = 'exclude = ["bit breathless",'
    assert old in text
    path = tmp_path / "safety.toml"
    path.write_text(text.replace(old, 'exclude = ["gasping + gin | tonic", "bit breathless",', 1), "utf-8")
    rules = load_rules(path)
    assert check_message("gasping for a gin and tonic after the clinic", rules) is None
    assert check_message("I am gasping for air", rules) is not None


@pytest.mark.parametrize(
    "text",
    [
        "collapsed on the sofa after work with a cup of tea",
        "I passed out on the sofa watching telly haha",
        "my husband is not answering his phone",
    ],
)
def test_idioms_excluded_by_pattern_do_not_alert(text: str) -> None:
    assert "unconscious" not in [r.id for r in fired_rules(text)]


@pytest.mark.parametrize(
    "text",
    [
        "dad collapsed on the sofa after a long day and won't wake up",
        "mum collapsed in the kitchen",
        "he is not answering me and his lips are blue",
    ],
)
def test_a_real_collapse_still_alerts(text: str) -> None:
    assert _kind(text) == "emergency"
