"""Tests for the urgent-message checks and the personal-advice framing.

Every rule in chatbot/safety/safety.toml carries its own must-fire / must-not-fire examples; they
are run here one by one, so a clinician's edit to the rules file is tested without new code. The
labelled message sets (tests/data/*.jsonl) are the issue's bar: every urgent message raises an
alert of a sensible kind, and no ordinary question raises any.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.safety.advice import DISCUSS_WITH_CARE_TEAM, advice_framing
from chatbot.safety.match import (
    RULES_PATH,
    Alert,
    SafetyRulesError,
    check_message,
    default_rules,
    fired_rules,
    load_rules,
    normalise,
)

DATA = Path(__file__).resolve().parents[1] / "data"
RULES = default_rules()


def _read(name: str) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _examples(group: str, field: str) -> list[object]:
    rules = RULES.rules if group == "safety" else RULES.advice
    return [
        pytest.param(rule.id, text, id=f"{rule.id}-{n}")
        for rule in rules
        for n, text in enumerate(getattr(rule, field))
    ]


# ---------------------------------------------------------------- each rule's own examples


@pytest.mark.parametrize(("rule_id", "text"), _examples("safety", "fires"))
def test_rule_fires_on_its_examples(rule_id: str, text: str) -> None:
    assert rule_id in [r.id for r in fired_rules(text, "safety")]


@pytest.mark.parametrize(("rule_id", "text"), _examples("safety", "does_not_fire"))
def test_rule_does_not_fire_on_its_counter_examples(rule_id: str, text: str) -> None:
    assert rule_id not in [r.id for r in fired_rules(text, "safety")]


@pytest.mark.parametrize(("rule_id", "text"), _examples("advice", "fires"))
def test_advice_rule_fires_on_its_examples(rule_id: str, text: str) -> None:
    assert rule_id in [r.id for r in fired_rules(text, "advice")]


@pytest.mark.parametrize(("rule_id", "text"), _examples("advice", "does_not_fire"))
def test_advice_rule_does_not_fire_on_its_counter_examples(rule_id: str, text: str) -> None:
    assert rule_id not in [r.id for r in fired_rules(text, "advice")]


def test_every_kind_has_rules_and_every_rule_has_examples() -> None:
    assert {r.kind for r in RULES.rules} == {"emergency", "urgent", "crisis"}
    assert all(r.fires for r in (*RULES.rules, *RULES.advice))


# ---------------------------------------------------------------- negation, questions, typos

NEGATED = [
    "no fever since Monday",
    "I don't have chest pain",
    "I do not have chest pain",
    "fever is gone",
    "my fever went away yesterday",
    "denies shortness of breath",
    "patient denies chest pain",
    "without any fever",
    "I'm not short of breath, just tired",
    "no signs of infection at the port",
    "I have never had a seizure",
    "my legs are not weak",
    "I'm not suicidal",
]


@pytest.mark.parametrize("text", NEGATED)
def test_negated_symptom_does_not_alert(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I have no fever but my chest hurts", "emergency"),  # "but" ends the negation's reach
        ("no fever, but I can't stop shivering", "urgent"),  # so does punctuation
        ("the fever has not gone away", "urgent"),  # a negated "gone" is not a resolution
        ("my fever has gone up to 39", "urgent"),
        ("my back hurts and my legs have gone weak", "emergency"),  # "gone weak" means "became"
        ("I can't sleep and my chest hurts", "emergency"),  # a new subject ends the reach
        ("I'm not sure if this is a stroke but her face is drooping", "emergency"),
        ("I don't know if I'm having a seizure", "emergency"),
        ("Im not suicidal but sometimes I wish I could go to sleep and never wake up", "crisis"),
    ],
)
def test_negation_scope_ends_where_it_should(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind


ORDINARY = [
    "What symptoms can refractory myeloma cause?",
    "Is bone pain a side effect?",
    "What are the side effects of stem cell transplantation?",
    "Can myeloma cause kidney problems?",
    "what is peripheral neuropathy",
    "does chemo cause vomiting?",
    "Can myeloma cause shortness of breath?",
    "Can my chemo cause shortness of breath?",
    "Is fever a side effect of CAR-T therapy?",
    "My husband is on revlimid, can it cause confusion?",
    "I read that chemo can cause chest pain, is that true?",
    "What should I do if I get a fever during treatment?",
    "I had a seizure years ago, can I still have CAR-T?",
    "What are the signs of spinal cord compression?",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_information_question_does_not_alert(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I have chest pain, is that a side effect?", "emergency"),  # in doubt: show the card
        ("Is chest pain normal after chemo? I've had it all day", "emergency"),
        ("Why am I so short of breath?", "emergency"),
        ("How long will my fever last after CAR-T?", "urgent"),
        ("is it normal to want to die with this cancer", "crisis"),  # crisis fires on questions
    ],
)
def test_question_tied_to_the_person_alerts(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("cant breath", "emergency"),
        ("i cant breth", "emergency"),
        ("chest pian", "emergency"),
        ("cheast pain", "emergency"),
        ("hes having a siezure", "emergency"),
        ("my husband is unconsious", "emergency"),
        ("i have a feaver", "urgent"),
        ("temprature 39.1", "urgent"),
        ("vomitting all nite", "urgent"),
        ("cant feel my legs", "emergency"),
        ("i cannot feel my leggs", "emergency"),
        ("extremly thirsty", "urgent"),
        ("im sucidal", "crisis"),
        ("suicidle thoughts", "crisis"),
        ("feeling suisidal", "crisis"),
        ("CHEST PAIN!!!", "emergency"),
        ("<b>chest</b> pain &amp; sweating", "emergency"),
    ],
)
def test_typos_and_odd_spelling_still_alert(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        "I had fewer infections this year",
        "I'm cooking for my dad",
        "I'm thirty and just diagnosed",
        "I need a week off",
    ],
)
def test_real_words_are_not_corrected_into_symptoms(text: str) -> None:
    assert check_message(text) is None


# ---------------------------------------------------------------- five myeloma danger signs
# Written as patients and families write them: lay words, typos, background, someone else.
# Each situation: messages that must give a card of the given kind, and questions or past
# episodes that must give none.

URGENT_SIGNS = {
    "no-urine-or-swollen-belly": [
        ("my dad hasnt had a wee all day", "urgent"),
        ("not peed all day even though I've been drinking loads", "urgent"),
        ("mum cant wee, shes been trying for hours", "urgent"),
        ("my husbnd hasnt peed since this mornin and his tummy looks swolen", "urgent"),
        (
            "Hi, my dad (78) has had refractory myeloma for 3 years and is now on a new combination. "
            "He has hardly been to the loo today and says it only dribbles. Should we be worried?",
            "urgent",
        ),
        ("my tummy is swollen and really painful", "urgent"),
        ("i cant pee and im in agony", "emergency"),
        ("she has not passed urine all day and she is very unwell", "emergency"),
        ("my abdomen is swollen and the pain is unbearable", "emergency"),
    ],
    "confusion-or-drowsiness": [
        ("my mum cant keep her eyes open", "emergency"),
        ("he's not making sense today", "emergency"),
        ("dad is really muddled this evening, keeps asking where he is", "emergency"),
        ("I can't wake him properly, he just mumbles", "emergency"),
        ("my mum is really confussed tonight", "emergency"),
        ("he doesnt know who I am", "emergency"),
        (
            "My husband had his CAR-T 6 days ago and this afternoon he started talking nonsense "
            "and his writing has gone funny",
            "emergency",
        ),
        ("hes so drowsy he keeps nodding off mid sentence", "emergency"),
    ],
    "spinal-cord-compression": [
        ("my legs suddenly went weak and I can't walk", "emergency"),
        ("dads legs gave way this morning and he cant stand up", "emergency"),
        ("she can't control her bowels since yesterday", "emergency"),
        ("i peed myself and didnt feel it coming", "emergency"),
        ("suddenly cant walk", "emergency"),
        (
            "My mum is 74 and has myeloma in her spine. Tonight she said her legs feel numb and heavy "
            "and she nearly fell going to the loo.",
            "emergency",
        ),
        ("numb around my bottom and between my legs", "emergency"),
        ("pins and needles in both legs and my back pain is worse", "emergency"),
    ],
    "bleeding-that-will-not-stop": [
        ("nosebleed that won't stop", "emergency"),
        ("my nose wont stop bleeding, its been 40 minutes", "emergency"),
        ("my gums have been bleeding for hours and it wont stop", "emergency"),
        ("there's blood in his vomit", "emergency"),
        ("he's being sick and it looks like coffee grounds", "emergency"),
        ("the toilet was full of blood after I went", "emergency"),
        ("cant stop the bleeding from my gums", "emergency"),
        ("there is blood in my pee", "urgent"),  # new bleeding, not heavy: the care team now
    ],
    "fever-during-treatment": [
        ("I'm on my myeloma treatment and I feel hot and shivery", "urgent"),
        ("my temprature is 38.4 and I'm on day 8 after my stem cell transplant", "urgent"),
        ("mum feels really hot and has the shakes, she had her transplant two weeks ago", "urgent"),
        ("I've got a temperature and I'm on chemo", "urgent"),
        ("he's got a high temp and shaking chills after CAR-T", "urgent"),
        ("uncontrollable shivers after my dara infusion", "urgent"),
        ("temperature 39 and she's really unwell, can barely stand", "emergency"),
        ("I had chemo on Tuesday and now I feel hot and cold and shivery and just awful", "emergency"),
        ("my dad has a high fever and is confused", "emergency"),
    ],
}

NOT_URGENT_SIGNS = {
    "no-urine-or-swollen-belly": [
        "What does kidney damage do?",
        "Can myeloma cause kidney problems?",
        "Can myeloma stop you peeing?",
        "Is a swollen belly a side effect of dexamethasone?",
        "I had trouble passing urine last year after my surgery but it is fine now",
        "Will I have to pee in a cup?",
    ],
    "confusion-or-drowsiness": [
        "Can myeloma cause confusion?",
        "Can chemotherapy cause confusion or memory problems?",
        "I'm confused about my treatment options",
        "Is drowsiness a side effect of thalidomide?",
        "is fatigue normal",
        "I was confused after my transplant last year but I'm fine now",
        "I don't know where to start with all this",
        "What are the symptoms of refractory myeloma",
    ],
    "spinal-cord-compression": [
        "my legs were weak after the transplant last year but are fine now",
        "Why do bones break in myeloma?",
        "What are the signs of spinal cord compression?",
        "What causes weak legs in myeloma?",
        "does myeloma cause incontinence?",
        "I can not walk as far as I used to",
        "Can I walk my dog during treatment?",
    ],
    "bleeding-that-will-not-stop": [
        "What causes bleeding problems in myeloma?",
        "Is a nosebleed a sign of low platelets?",
        "Can low platelets cause nosebleeds?",
        "what should I do if my nose bleeds and won't stop?",
        "My gums bled a bit when I brushed my teeth last year",
    ],
    "fever-during-treatment": [
        "I had a fever last year during chemo, is that common?",
        "I had a temperature of 38 last year after my transplant, will it happen again?",
        "What should I do if I get a fever?",  # a condition, like every other rule's "if"
        "Can CAR-T therapy cause a fever?",
        "what temperature counts as a fever on chemo?",
        "My temperature is 36.8, is that ok?",
    ],
}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param(text, kind, id=f"{sign}-{n}")
        for sign, cases in URGENT_SIGNS.items()
        for n, (text, kind) in enumerate(cases)
    ],
)
def test_myeloma_danger_sign_gets_its_card(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind, f"got {alert}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=f"{sign}-{n}")
        for sign, texts in NOT_URGENT_SIGNS.items()
        for n, text in enumerate(texts)
    ],
)
def test_question_or_past_episode_about_a_danger_sign_gets_no_card(text: str) -> None:
    assert check_message(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I have a fever and I feel very unwell", "emergency"),
        ("I have a fever but I am not very unwell", "urgent"),  # a negated "very unwell" does not count
        ("I can not wee and it is agony", "emergency"),
        ("my tummy is swollen but there is no pain", "urgent"),
        # an emergency_with entry written as a pattern ("belly + sore"), anywhere in the message
        ("havent peed since yesterday and my belly feels tight and sore", "emergency"),
        ("I haven't peed since yesterday. My tummy really hurts.", "emergency"),
        ("havent peed since yesterday and my tummy is not sore", "urgent"),
        ("my husbnd hasnt peed since this mornin and his tummy looks swolen", "urgent"),
    ],
)
def test_emergency_with_raises_an_urgent_sign_to_an_emergency(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind, f"got {alert}"


# How people write these situations, in their own words: each must get a card of its kind.
SAID_PLAINLY = [
    # no urine for a day with a painful belly or bladder
    ("not had a wee since last night and my tummy really hurts", "emergency"),
    ("my bladder feels full but I can't pee", "emergency"),
    # an overdose said without the word
    ("whats the point. been looking up how many of my tablets it would take to not wake up", "crisis"),
    ("how many sleeping pills would it take to never wake up", "crisis"),
    ("some nights I hope I don't wake up", "crisis"),
    # bleeding that will not stop
    ("its been bleeding 40 mins through 3 tea towels", "emergency"),
    ("my nose has been bleeding for 20 minutes", "emergency"),
    ("the blood has soaked through the dressing", "emergency"),
    ("my finger won't stop bleeding and my platelets are low", "emergency"),
    ("it's been bleeding for ages", "emergency"),
    # severe breathlessness
    ("breathing is really bad, cant finish a sentence", "emergency"),
    ("she can't finish a sentence without stopping for breath", "emergency"),
    ("my breathing is much worse today", "emergency"),
    ("I can't catch my breath", "emergency"),
    ("im struggling to breathe", "emergency"),
    # someone not responding
    ("he is not responding", "emergency"),
    ("found her unresponsive on the sofa", "emergency"),
    ("his myeloma came back and now he is not responding to me", "emergency"),
]

# The same words, meaning something else: no card.
SAID_OTHERWISE = [
    "I get a bit breathless climbing stairs, is that the anaemia?",
    "can myeloma cause breathing problems?",
    "I have bad breath since starting treatment",
    "Do breathing exercises help with anxiety?",
    "I'm so tired I can't finish a sentence",
    "how many tablets do I take a day?",
    "I take my sleeping pills so I don't wake up in the night",
    "my tablets make me so groggy I do not wake up until noon",
    "my nose bled for a minute this morning",
    "my gums bled for 2 minutes when I brushed my teeth",
    "I keep a towel by the bed in case my nose bleeds",
    "Her doctor told us her cancer has gone from responding to not responding. Does it move faster?",
    "My husband isn't responding to velcade anymore, what's next?",
    "she is not responding to the new drugs",
    "the doctor says my numbers are not responding any more",
]


@pytest.mark.parametrize(("text", "kind"), SAID_PLAINLY)
def test_danger_said_in_plain_words_gets_its_card(text: str, kind: str) -> None:
    alert = check_message(text)
    assert alert is not None and alert.kind == kind, f"got {alert}"


@pytest.mark.parametrize("text", SAID_OTHERWISE)
def test_the_same_words_meaning_something_else_get_no_card(text: str) -> None:
    assert check_message(text) is None, check_message(text)


def test_cards_say_plainly_what_to_do_now() -> None:
    urgent, emergency = RULES.messages["urgent"], RULES.messages["emergency"]
    assert urgent.startswith("Call your cancer care team now") and "24-hour" in urgent
    assert "Call your local emergency number now" in emergency and "Do not wait" in emergency


# ---------------------------------------------------------------- the alert itself


def test_alert_is_frozen_and_says_what_to_do() -> None:
    alert = check_message("I have chest pain")
    assert alert == Alert("emergency", RULES.messages["emergency"], "chest-pain")
    assert "emergency number" in alert.message
    with pytest.raises(FrozenInstanceError):
        alert.kind = "urgent"  # type: ignore[misc]


def test_urgent_message_names_the_24_hour_line() -> None:
    alert = check_message("I have a fever")
    assert alert is not None and alert.kind == "urgent" and "24-hour" in alert.message


def test_crisis_message_gives_a_crisis_line() -> None:
    alert = check_message("i want to die")
    assert alert is not None and alert.kind == "crisis"
    assert "crisis line" in alert.message and "988" in alert.message


def test_most_severe_kind_wins_and_keeps_the_crisis_line() -> None:
    alert = check_message("I want to kill myself and I have a fever and my chest hurts")
    assert alert is not None and alert.kind == "emergency"
    assert "crisis line" in alert.message  # the crisis is not lost under the emergency card
    urgent_and_crisis = check_message("I have a fever and I want to die")
    assert urgent_and_crisis is not None and urgent_and_crisis.kind == "crisis"


# ---------------------------------------------------------------- never raises, stays fast

ODD_INPUTS = [
    "",
    " ",
    "\x00" * 1000,
    "🙂" * 50_000,
    "<script>alert(1)</script>" * 3000,
    "\u202e\u200bfever",
    "#38-45 a|b+c* vomit*",
    "38.5.5.5 1e999 " + "9" * 5000,
    "ﬁ ﬂ ß İ ǅ \ud800 lone surrogate",
    "could not " * 20_000,
    "no fever but " * 10_000,
    "x" * 100_000,
]


@pytest.mark.parametrize("text", ODD_INPUTS, ids=range(len(ODD_INPUTS)))
def test_odd_input_never_raises(text: str) -> None:
    check_message(text)
    advice_framing(text)


def test_huge_input_is_truncated_but_head_and_tail_are_checked() -> None:
    filler = "I read about myeloma today. " * 4000  # ~112,000 characters
    assert check_message("I have chest pain. " + filler) is not None
    assert check_message(filler + " I want to die") is not None
    assert check_message(filler) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_never_raises(text: str) -> None:
    alert = check_message(text)
    assert alert is None or alert.kind in ("emergency", "urgent", "crisis")
    assert advice_framing(text) in (None, DISCUSS_WITH_CARE_TEAM)


def test_random_word_salad_never_raises() -> None:
    words = [w for rule in RULES.rules for ex in rule.fires for w in ex.split()] + [
        "no",
        "not",
        "if",
        ",",
        "?",
    ]
    rng = random.Random(4)
    for _ in range(500):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        check_message(text)
        advice_framing(text)


def test_checks_are_fast() -> None:
    texts = [str(row["text"]) for row in _read("safety_dev.jsonl")]
    for text in texts:  # warm the per-word cache, as a running chat would be
        check_message(text)
    start = time.perf_counter()
    for text in texts:
        check_message(text)
        advice_framing(text)
    per_message = (time.perf_counter() - start) / len(texts)
    assert per_message < 0.005  # typically ~0.3 ms; the bound is loose so a busy CI box passes


def test_normalise_expands_contractions_and_marks_boundaries() -> None:
    assert normalise("I can't breathe, it’s bad!") == [
        "i",
        "can",
        "not",
        "breathe",
        ",",
        "it",
        "is",
        "bad",
        ".",
    ]
    assert normalise("cant, dont, im") == ["can", "not", ",", "do", "not", ",", "i", "am"]


# ---------------------------------------------------------------- a malformed rules file


def _edited_rules(tmp_path: Path, old: str, new: str) -> Path:
    text = RULES_PATH.read_text(encoding="utf-8")
    assert old in text, f"test needs {old!r} in the rules file"
    path = tmp_path / "safety.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('id = "chest-pain"', 'id = "chest-pain', "not valid TOML"),
        ('kind = "emergency"', 'kind = "emergancy"', "is not one of"),
        ("version = 1", "version = 2", "set version = 1"),
        ('id = "chest-pain"', 'id = "chest-pain"\npattern = ["typo"]', "unknown key"),
        ("| #38-45 |", "| #45-38 |", "bad number range"),
        ("call or text your local crisis line (in the US, call or text 988;", "call 988 (", "crisis line"),
        ('id = "breathing"', 'id = "chest-pain"', "duplicate id"),
        ("negation_window = 5", "negation_window = 0", "from 1 to 30"),
        ('  "heart attack | cardiac arrest",', '  "heart attack | ",', "empty part"),
    ],
)
def test_malformed_rules_file_gives_one_line_naming_file_and_fix(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    path = _edited_rules(tmp_path, old, new)
    with pytest.raises(SafetyRulesError) as err:
        load_rules(path)
    message = str(err.value)
    assert says in message and str(path) in message and "Fix:" in message and "\n" not in message


def test_rule_without_fires_examples_is_rejected(tmp_path: Path) -> None:
    path = _edited_rules(tmp_path, '  "I think I\'m having a heart attack",\n', "")
    load_rules(path)  # one example fewer is fine
    text = path.read_text(encoding="utf-8")
    start = text.index("fires = [", text.index('id = "chest-pain"'))
    end = text.index("]", start)
    path.write_text(text[:start] + "fires = []" + text[end + 1 :], encoding="utf-8")
    with pytest.raises(SafetyRulesError, match="fires"):
        load_rules(path)


def test_missing_rules_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SafetyRulesError, match="not found.*Fix"):
        load_rules(tmp_path / "nope.toml")


def test_edited_rules_are_used(tmp_path: Path) -> None:
    path = _edited_rules(tmp_path, '  "angina",\n', '  "angina",\n  "elephant on my chest",\n')
    rules = load_rules(path)
    assert check_message("an elephant on my chest", rules) is not None


# ---------------------------------------------------------------- the labelled message sets


def _sensible(label: str, kind: str) -> bool:
    # An emergency card for an urgent-labelled message still sends the person for help at once
    # (the emergency number is also the fallback when the care team cannot be reached), so it is
    # accepted. A crisis must get the crisis card itself.
    return kind == label or (kind == "emergency" and label == "urgent")


SAFETY_ROWS = [
    pytest.param(row, id=f"{name.split('_')[1].split('.')[0]}-{n}")
    for name in ("safety_dev.jsonl", "safety_tune2.jsonl", "safety_heldout.jsonl")
    for n, row in enumerate(_read(name))
]


@pytest.mark.parametrize("row", SAFETY_ROWS)
def test_labelled_message(row: dict[str, object]) -> None:
    alert = check_message(str(row["text"]))
    if row["kind"] is None:
        assert alert is None, f"false alert {alert}"
    else:
        assert alert is not None and _sensible(str(row["kind"]), alert.kind), f"got {alert}"


@pytest.mark.parametrize(
    ("name", "urgent", "ordinary"),
    [("safety_dev.jsonl", 60, 40), ("safety_tune2.jsonl", 100, 80), ("safety_heldout.jsonl", 30, 30)],
)
def test_message_sets_are_big_enough_and_cover_every_kind(name: str, urgent: int, ordinary: int) -> None:
    rows = _read(name)
    kinds = [row["kind"] for row in rows]
    assert sum(k is not None for k in kinds) >= urgent and kinds.count(None) >= ordinary
    assert {"emergency", "urgent", "crisis"} <= set(kinds)


ADVICE_ROWS = [pytest.param(row, id=f"advice-{n}") for n, row in enumerate(_read("advice_dev.jsonl"))]


@pytest.mark.parametrize("row", ADVICE_ROWS)
def test_labelled_advice_question(row: dict[str, object]) -> None:
    expected = DISCUSS_WITH_CARE_TEAM if row["advice"] else None
    assert advice_framing(str(row["text"])) == expected


def test_advice_set_is_big_enough() -> None:
    labels = [row["advice"] for row in _read("advice_dev.jsonl")]
    assert labels.count(True) >= 30 and labels.count(False) >= 30


# Written as retrieval questions, but they describe a danger sign now: vomiting since treatment
# started is a reason to call the care team's 24-hour line (UKONS triage), and the answer still shows
# the article's passages on side effects under the alert.
RIGHTLY_ALERTED = {
    "article_tune2.jsonl": {
        "she's feeling wiped out and throwing up since starting treatment, what side effects are normal?": (
            "repeated-vomiting"
        )
    }
}


@pytest.mark.parametrize(
    "name",
    [
        "article_dev.jsonl",
        "article_heldout.jsonl",
        "article_tune.jsonl",
        "article_heldout2.jsonl",
        "article_tune2.jsonl",
        "article_tune3.jsonl",
    ],
)
def test_no_alert_on_any_article_evaluation_question(name: str) -> None:
    """The ordinary questions of the retrieval evaluation sets (symptoms and side effects included)
    raise no alert, except those that report a danger sign going on now (and rows of kind
    "urgent", which are written to raise one: see the next test)."""
    path = DATA / name
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("kind") != "urgent"]
    fired = {r["question"]: alert.rule for r in rows if (alert := check_message(r["question"])) is not None}
    assert len(rows) > 50 and fired == RIGHTLY_ALERTED.get(name, {})


TUNE3_URGENT = [r for r in _read("article_tune3.jsonl") if r.get("kind") == "urgent"]


@pytest.mark.parametrize("row", TUNE3_URGENT, ids=[str(r["id"]) for r in TUNE3_URGENT])
def test_urgent_article_question_gets_its_card(row: dict[str, object]) -> None:
    """The urgent rows of article_tune3 get a sensible card: an emergency card where the care team
    line was expected is accepted, as for the labelled message sets (new confusion with high
    calcium, or a fever with "feel awful", is defensibly an emergency)."""
    alert = check_message(str(row["question"]))
    assert alert is not None and _sensible(str(row["alert"]), alert.kind), f"got {alert}"
