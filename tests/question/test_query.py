"""Query understanding: follow-ups, spelling correction, synonyms."""

from __future__ import annotations

import pytest

from chatbot.question.query import (
    asks_cause,
    build_query,
    definition_subject,
    is_followup,
    resolve_followup,
    synonym_table,
    without_exclusions,
)
from chatbot.question.spelling import Speller, specificity

CORPUS_WORDS = (
    "refractory myeloma " * 20 + "refactory chemotherapy stem cell transplantation biopsy diagnosis "
    "diagnosed marrow treatment treatments immunotherapy proteasome inhibitors"
).split()


@pytest.fixture(scope="module")
def speller() -> Speller:
    # A small "English" list stands in for the model's vocabulary: real words are never corrected.
    return Speller(CORPUS_WORDS, known=frozenset({"risky", "scan", "bread", "cant"}))


@pytest.mark.parametrize(
    "question",
    [
        "Is it risky?",
        "and the secondary one?",
        "how does it work?",
        "what about side effects?",
        "What are its side effects?",
        "is it worse than the primary type?",
        "is this common?",
        "what causes that?",
    ],
)
def test_followups_are_recognised(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is refractory myeloma?",
        "How is a bone marrow biopsy done?",
        "What is chemo?",
        "what are they checking for in my blood work?",
        "How do doctors diagnose refractory myeloma?",
        "Can this cancer damage the kidneys?",  # "this cancer" is the patient's illness
        "Can I get counseling to help me cope with all of this?",
    ],
)
def test_standalone_questions_are_not_followups(question: str) -> None:
    assert not is_followup(question)


def test_followup_borrows_the_topic_of_the_conversation() -> None:
    query, followup = resolve_followup("Is it risky?", ["What is a stem cell transplant?"])
    assert followup and "stem cell transplant" in query and query.endswith("Is it risky?")


def test_chained_followups_keep_the_original_topic() -> None:
    history = ["What is a stem cell transplant?", "Is it risky?"]
    query, _ = resolve_followup("how long does it take?", history)
    assert "stem cell transplant" in query


def test_standalone_question_ignores_history() -> None:
    query, followup = resolve_followup("What is radiation therapy?", ["What is chemo?"])
    assert (query, followup) == ("What is radiation therapy?", False)


def test_followup_without_history_is_left_alone() -> None:
    assert resolve_followup("Is it risky?", []) == ("Is it risky?", False)


@pytest.mark.parametrize(
    ("typo", "fixed"),
    [
        ("myleoma", "myeloma"),
        ("refractry", "refractory"),
        ("chemotherpy", "chemotherapy"),
        ("biospy", "biopsy"),
        ("refactory", "refractory"),
    ],
)
def test_typos_are_corrected_against_the_corpus(speller: Speller, typo: str, fixed: str) -> None:
    assert speller.correct(typo) == fixed


@pytest.mark.parametrize("word", ["risky", "scan", "bread", "cant", "myeloma", "cell", "a1c"])
def test_real_and_known_words_are_not_corrected(speller: Speller, word: str) -> None:
    assert speller.correct(word) is None


def test_build_query_applies_corrections_and_synonyms(speller: Speller) -> None:
    table = synonym_table(
        {"bone marrow transplant": ["stem cell transplantation"], "chemo": ["chemotherapy"]}
    )
    query = build_query("is a bone marow transplant like chemo?", [], speller, table)
    assert ("marow", "marrow") in query.corrections
    assert "stem cell transplantation" in query.expansions and "chemotherapy" in query.expansions
    assert query.text.startswith("is a bone marrow transplant like chemo?")
    assert query.corrected == "is a bone marrow transplant like chemo?"


def test_synonyms_match_whole_words_only(speller: Speller) -> None:
    table = synonym_table({"pet": ["PET scan"]})
    assert build_query("can my petition be read", [], speller, table).expansions == ()
    assert build_query("do I need a PET?", [], speller, table).expansions == ("PET scan",)


@pytest.mark.parametrize("question", ["are others being studied?", "are both used together?"])
def test_plural_and_paired_references_are_followups(question: str) -> None:
    assert is_followup(question)


def test_context_can_be_forced_for_an_unmarked_followup() -> None:
    history = ["What is a bone marrow biopsy?"]
    question = "what happens to the sample afterward?"
    assert resolve_followup(question, history) == (question, False)
    query, followup = resolve_followup(question, history, force=True)
    assert followup and query.startswith("What is a bone marrow biopsy?") and query.endswith(question)


def test_misspelt_everyday_words_are_corrected_by_one_edit() -> None:
    # Frequency order: "tied" is commoner than "tired", but swapped letters are the likelier slip.
    speller = Speller(CORPUS_WORDS, known=frozenset(), common=["first", "tied", "together", "tired"])
    assert speller.correct("togeter") == "together"
    assert speller.correct("frist") == "first"
    assert speller.correct("tierd") == "tired"
    assert speller.correct("toogeether") is None  # two edits from everyday English is too far


def test_rare_and_function_words_are_never_targets_or_sources() -> None:
    speller = Speller(CORPUS_WORDS)  # the model's real vocabulary
    assert speller.correct("oncologist") is None  # not turned into the rare "ontologist"
    assert speller.correct("dont") is None and speller.correct("doesnt") is None
    assert speller.correct("shoud") == "should"


def test_synonym_file_words_are_never_corrected() -> None:
    assert Speller(CORPUS_WORDS, known=frozenset()).correct("biopsi") == "biopsy"
    assert Speller(CORPUS_WORDS, known=frozenset(), protected=["biopsi"]).correct("biopsi") is None


def test_synonyms_match_any_form_of_the_lay_word() -> None:
    table = synonym_table({"scan": ["imaging tests"], "scans": ["PET scan"]})
    assert table == {("scan",): ("imaging tests", "PET scan")}
    assert build_query("which scans will I need?", [], None, table).expansions == (
        "imaging tests",
        "PET scan",
    )


def test_clinical_text_swaps_lay_phrases_for_their_targets() -> None:
    table = synonym_table({"wiped out": ["fatigue"], "chemo": ["chemotherapy"]})
    query = build_query("feeling wiped out after chemo", [], None, table)
    assert query.clinical.split() == ["feeling", "after", "fatigue", "chemotherapy"]
    assert query.corrected == "feeling wiped out after chemo"


def test_specificity_grows_from_everyday_to_specialist_words() -> None:
    everyday, middling, specialist = specificity("really"), specificity("insurance"), specificity("dialysis")
    assert everyday < 0.1 < middling < specialist == 1.0
    assert specificity("the") == 0.0 and specificity("zzqxv") == 1.0  # unknown to the model: specific


def test_text_message_spellings_are_read_as_words(speller: Speller) -> None:
    query = build_query("wat r the symtoms, dr?", [], speller, {})
    assert query.corrected == "what are the symptoms, doctor?"
    assert ("wat", "what") in query.corrections  # shown to the user as a correction


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("What other tests are used besides blood tests and a biopsy?", "What other tests are used?"),
        ("what tests besides blood tests, a biopsy and imaging?", "what tests?"),
        ("Besides chemo, what treatments are there?", "what treatments are there?"),
        ("Is it diagnosed? Apart from blood tests, what else?", "Is it diagnosed? what else?"),
        ("any treatment other than a transplant? is it risky", "any treatment? is it risky"),
        ("besides that?", "besides that?"),  # nothing would be left: kept whole
        ("What are the side effects?", "What are the side effects?"),
    ],
)
def test_what_a_question_sets_aside_is_not_searched(question: str, searched: str) -> None:
    assert without_exclusions(question) == searched


def test_the_search_text_leaves_out_the_aside_but_keeps_the_question(speller: Speller) -> None:
    query = build_query("what other tests besides blood tests?", [], speller, {})
    assert query.text == "what other tests?" and "blood" not in query.clinical
    assert query.corrected == "what other tests besides blood tests?"


@pytest.mark.parametrize(
    "question", ["his cancer isn't responding", "it is not responding", "the drugs arent responding anymore"]
)
def test_a_negated_lay_phrase_matches_every_spelling_of_not(speller: Speller, question: str) -> None:
    synonyms = synonym_table({"not responding": ["refractory"]})
    query = build_query(question, [], speller, synonyms)
    assert query.expansions == ("refractory",)
    assert "respond" not in query.clinical  # the lay phrase, contraction included, was swapped


def test_a_contraction_does_not_match_a_phrase_without_the_negation(speller: Speller) -> None:
    synonyms = synonym_table({"responding": ["response"], "is responding": ["responsive"]})
    assert build_query("it isn't responding", [], speller, synonyms).expansions == ("response",)


def test_dont_and_doesnt_are_one_phrase(speller: Speller) -> None:
    synonyms = synonym_table({"doesn't work": ["resistant to treatment"]})
    assert build_query("the drugs dont work", [], speller, synonyms).expansions == ("resistant to treatment",)
    assert build_query("it didn't work", [], speller, synonyms).expansions == ()  # the tense is kept


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("What is refractory myeloma?", "refractory myeloma"),
        ("what's a biopsy", "biopsy"),
        ("What are the proteasome inhibitors?", "proteasome inhibitors"),
        ("What is (are) Polycystic ovary syndrome ?", "polycystic ovary syndrome"),
        ("How is it found? What is an MRI?", "mri"),  # a resolved follow-up: its last question
        ("what is it?", ""),  # only a pronoun: nothing to look for
        ("Is it risky?", ""),
        ("How does targeted therapy work?", ""),
    ],
)
def test_the_subject_of_a_definition_question(question: str, subject: str) -> None:
    assert definition_subject(question) == subject


@pytest.mark.parametrize(
    ("question", "why"),
    [
        ("Why does myeloma become refractory?", True),
        ("so how come it came back", True),
        ("What causes the bone pain?", True),
        ("what made the treatment stop working?", True),
        ("the doctor told us, but what is the reason for all these tests?", True),
        ("What is refractory myeloma?", False),
        ("What treatment options are there?", False),
        ("Can the cancer cause kidney problems?", False),  # asks about an effect, yes or no
        ("whyte blood cells", False),  # a word that only starts like "why"
    ],
)
def test_a_question_asking_why(question: str, why: bool) -> None:
    assert asks_cause(question) is why


def test_why_is_read_in_the_question_itself_not_the_earlier_ones() -> None:
    speller = Speller(CORPUS_WORDS)
    assert build_query("is it risky?", ["why is it done?"], speller, {}).asks_cause is False
    assert build_query("why is it done?", ["what is a biopsy?"], speller, {}).asks_cause is True


def test_the_kind_of_fact_asked_for_is_read_in_the_question_itself() -> None:
    speller = Speller(CORPUS_WORDS)
    assert build_query("how much does it cost?", ["what is a biopsy?"], speller, {}).expects == "cost"
    assert build_query("is it risky?", ["how much does a biopsy cost?"], speller, {}).expects == ""
