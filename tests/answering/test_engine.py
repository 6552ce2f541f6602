"""Hybrid retrieval and answer assembly, with the fake embedder (exact and fast)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chatbot.answering.coverage import TENTATIVE_MARGIN
from chatbot.answering.engine import Engine
from chatbot.answering.retrieval import FUSION, Fusion
from chatbot.indexing.build import build_index
from chatbot.indexing.store import load_build
from chatbot.language import terms
from chatbot.present import answer_text
from chatbot.protocol import answer_json
from tests.conftest import FakeEmbedder


def _engine(folder: Path, files: dict[str, str], **kwargs: Any) -> Engine:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    embedder = FakeEmbedder()
    build_index(corpus, folder / "index", embedder, progress=False)
    return Engine(load_build(folder / "index"), embedder, **kwargs)


def test_hybrid_is_deterministic(fake_engine: Engine) -> None:
    first = answer_json(fake_engine.ask("How is a bone marrow biopsy done?"))
    again = answer_json(fake_engine.ask("How is a bone marrow biopsy done?"))
    assert first == again


def test_dense_ranking_equals_brute_force(fake_engine: Engine) -> None:
    query = "which imaging tests show where the cancer is"
    vector = fake_engine.embedder.encode([query])[0]
    hits = fake_engine.retriever.search(vector, terms(query), 5, method="dense")
    brute = np.asarray(fake_engine.index.vectors) @ vector
    assert [h.position for h in hits] == list(np.argsort(-brute, kind="stable")[:5])


def test_bm25_finds_a_rare_word(fake_engine: Engine) -> None:
    vector = fake_engine.embedder.encode(["IMiDs"])[0]
    hits = fake_engine.retriever.search(vector, terms("IMiDs"), 3, method="bm25")
    assert "IMiDs" in hits[0].chunk.text and hits[0].bm25_rank == 1


def test_hits_carry_both_ranks(fake_engine: Engine) -> None:
    query = "stem cell transplantation side effects"
    vector = fake_engine.embedder.encode([query])[0]
    hit = fake_engine.retriever.search(vector, terms(query), 1)[0]
    assert hit.dense_rank is not None and hit.bm25_rank is not None and hit.bm25_score > 0


# Tests of chunk-level mechanisms over several small documents leave document evidence
# (`answering.documents`, tested on its own) out, so that it does not decide their rankings.
CHUNKS_ONLY = dataclasses.replace(FUSION, lead=0.0, document_bm25=0.0)


def test_fusion_breaks_ties_by_chunk_order(tmp_path: Path) -> None:
    same = "Blood tests check calcium.\n\n"
    engine = _engine(tmp_path, {"a.txt": "Title\n\n" + same, "b.txt": "Other\n\n" + same}, fusion=CHUNKS_ONLY)
    vector = engine.embedder.encode(["calcium"])[0]
    hits = engine.retriever.search(vector, terms("calcium"), 2)
    assert [h.position for h in hits] == sorted(h.position for h in hits)


def test_two_chunks_of_one_section_become_one_passage(tmp_path: Path) -> None:
    para1 = "Calcium levels are checked with blood tests. " * 11  # two paragraphs too long to join
    para2 = "Calcium can also rise when bones break down. " * 11
    text = f"Guide\n\nBlood Tests\n\n{para1.strip()}\n\n{para2.strip()}\n\nImaging\n\nScans show bones.\n"
    engine = _engine(tmp_path, {"guide.txt": text})
    assert len([c for c in engine.index.chunks if c.section == ("Blood Tests",)]) == 2
    answer = engine.ask("calcium blood tests bones")
    sections = [p.section for p in answer.passages]
    assert len(sections) == len(set(sections))
    merged = answer.passages[0]
    assert merged.section == "Guide › Blood Tests"
    assert text[merged.start : merged.end] == merged.text and "\n\n" in merged.text


def test_a_section_resuming_after_its_subsection_is_not_merged_across_it(tmp_path: Path) -> None:
    before = "Supportive care eases pain during treatment. " * 11
    after = "Supportive care also covers counseling for families. " * 9
    diet = "A dietitian plans meals that keep weight up. " * 5
    text = (
        f"Guide\n\nCare\n\n{before.strip()}\n\nDiet:\n\n{diet.strip()}\n\n\n{after.strip()}"
        "\n\nImaging\n\nScans.\n"
    )
    engine = _engine(tmp_path, {"guide.txt": text})
    care = [c for c in engine.index.chunks if c.section == ("Care",)]
    assert len(care) == 2  # the section's text before and after its subsection
    answer = engine.ask("supportive care pain treatment counseling families")
    shown = [p for p in answer.passages if p.section == "Guide › Care"]
    assert len(shown) == 2  # both found, neither dropped, each cited to its section
    assert all("dietitian" not in p.text and text[p.start : p.end] == p.text for p in shown)


def test_near_duplicate_passages_are_shown_once(tmp_path: Path) -> None:
    body = "Supportive care helps manage pain, nutrition and fatigue during treatment."
    engine = _engine(tmp_path, {"a.txt": f"One\n\nCare\n\n{body}\n", "b.txt": f"Two\n\nHelp\n\n{body}\n"})
    answer = engine.ask("supportive care pain nutrition")
    assert len(answer.passages) == 1


def test_a_passage_that_repeats_one_above_gives_way_to_one_that_differs(tmp_path: Path) -> None:
    files = {
        "a.txt": "Alpha\n\nCalcium\n\nCalcium in the blood is measured with blood tests every month.\n",
        "b.txt": "Beta\n\nCalcium\n\nCalcium in the blood is measured with blood tests, usually each week.\n",
        "c.txt": "Gamma\n\nKidneys\n\nCalcium in the blood can harm the kidneys, so kidney tests are done.\n",
    }
    question = "how is calcium in the blood measured?"
    plain = _engine(tmp_path / "plain", files, diversity=0.0, fusion=CHUNKS_ONLY)
    search = plain.search_query(question)
    hits = plain.retriever.find(plain.embedder.encode([search.text])[0], search, 3)
    assert [h.chunk.title for h in hits] == ["Alpha", "Beta", "Gamma"]  # Beta repeats Alpha
    assert [p.section for p in plain.ask(question).passages] == [h.chunk.citation for h in hits]

    # The fake embedder's cosines all lie above 0.5, so a strong weight shows the mechanism.
    diverse = _engine(tmp_path / "diverse", files, diversity=3.0, fusion=CHUNKS_ONLY).ask(question).passages
    assert [p.section.split(" › ")[0] for p in diverse] == ["Alpha", "Gamma", "Beta"]
    # staff see why: Beta's overlap with a passage above it is the highest
    assert diverse[0].overlap == 0.0 and diverse[2].overlap > diverse[1].overlap > 0.0


GUIDE = (
    "Guide\n\nBone Marrow Biopsy\n\nA biopsy removes marrow from the hip bone. The sample is examined "
    "under a microscope for myeloma cells.\n\nImaging\n\nScans show damage to the bones.\n"
)


def test_an_unmarked_followup_that_matches_nothing_alone_is_read_in_context(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    alone = engine.ask("what happens afterwards?")
    assert not alone.answered  # nothing in the guide speaks of it on its own
    answer = engine.ask("what happens afterwards?", ["How is a bone marrow biopsy done?"])
    assert answer.answered and answer.passages[0].section == "Guide › Bone Marrow Biopsy"
    assert answer.query.startswith("How is a bone marrow biopsy done?")


def test_a_question_asking_for_a_cost_no_passage_gives_gets_only_the_closest(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    assert engine.ask("How is a bone marrow biopsy done?").outcome == "answer"
    answer = engine.ask("How much does a bone marrow biopsy cost?")
    assert answer.outcome == "closest" and 1 <= len(answer.passages) <= 2
    assert answer.lacking == "a cost or price" and "asks for a cost or price" in answer.reason
    assert answer_json(answer)["asks_for"] == "a cost or price"
    assert "does not give a cost or price" in answer_text(answer)
    assert "asks_for" not in answer_json(engine.ask("What is a bone marrow biopsy?"))
    # A follow-up is typed by its own words, and searched with its topic as ever.
    followup = engine.ask("how much does it cost?", ["What is a bone marrow biopsy?"])
    assert followup.outcome == "closest" and followup.lacking == "a cost or price"
    assert followup.query.startswith("What is a bone marrow biopsy?")


def test_a_corpus_that_gives_the_cost_answers_the_same_question(tmp_path: Path) -> None:
    priced = GUIDE.replace("microscope for myeloma cells.", "microscope for myeloma cells. It costs $900.")
    engine = _engine(tmp_path, {"guide.txt": priced})
    answer = engine.ask("How much does a bone marrow biopsy cost?")
    assert answer.answered and answer.lacking == "" and "$900" in answer.passages[0].text


def test_a_new_topic_after_a_conversation_is_searched_alone(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    answer = engine.ask("what damage do scans show in the bones?", ["How is a bone marrow biopsy done?"])
    assert answer.query == "what damage do scans show in the bones?"
    assert answer.passages[0].section == "Guide › Imaging"


@pytest.mark.parametrize("fusion", [Fusion(), Fusion("rrf", 1.0, 1.0, 1.0)])
def test_hybrid_scores_lie_between_zero_and_one(tmp_path: Path, fusion: Fusion) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.txt").write_text(GUIDE, encoding="utf-8")
    build_index(corpus, tmp_path / "index", FakeEmbedder(), progress=False)
    engine = Engine(load_build(tmp_path / "index"), FakeEmbedder(), fusion=fusion)
    passages = engine.ask("bone marrow biopsy hip sample microscope").passages
    assert passages and all(0.0 < p.score <= 1.0 for p in passages)
    assert passages[0].section == "Guide › Bone Marrow Biopsy"


def test_a_chunk_only_bm25_lists_keeps_its_true_cosine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk the approximate dense index missed must not count as unrelated: its exact cosine
    is used, and shown."""
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    retriever = engine.retriever
    imaging = next(i for i, c in enumerate(engine.index.chunks) if c.section == ("Imaging",))

    def missed(query_vector: np.ndarray, depth: int = 100) -> np.ndarray:
        scores = np.full(len(engine.index.chunks), -1.0, dtype=np.float32)
        scores[imaging] = 0.1  # the dense list holds only the wrong chunk
        return scores

    monkeypatch.setattr(retriever, "dense_scores", missed)
    vector = engine.embedder.encode(["microscope sample"])[0]
    hits = retriever.search(vector, terms("microscope sample"), 2)
    biopsy = hits[0]
    assert biopsy.chunk.section == ("Bone Marrow Biopsy",)
    cosine = float(np.asarray(engine.index.vectors[biopsy.position]) @ vector)
    assert biopsy.dense_score == pytest.approx(cosine, abs=1e-5)  # staff see the cosine that was fused
    sentence = float(retriever.sentence_scores(vector, [biopsy.position])[0])
    f = retriever.fusion
    assert biopsy.score == pytest.approx(f.dense * cosine + f.sentence * sentence + f.bm25 * 1.0, rel=1e-5)


def test_highlights_are_sentences_of_the_passage(fake_engine: Engine) -> None:
    answer = fake_engine.ask("How is a bone marrow biopsy done?")
    passage = answer.passages[0]
    assert passage.highlights
    for start, end in passage.highlights:
        sentence = passage.text[start:end]
        assert sentence[0].isupper() and sentence.endswith((".", "?", "!"))
    best = passage.text[slice(*passage.highlights[0])]
    assert "hip bone" in best  # the sentence that says how it is done


def test_not_covered_offers_sections_instead_of_passages(
    tmp_path: Path, built_index: Any, index_dir: Path
) -> None:
    engine = Engine(load_build(index_dir), FakeEmbedder(baseline=0.0), cover_threshold=0.5)
    answer = engine.ask("banana bread recipe with walnuts")
    assert not answer.answered and answer.passages == ()
    assert answer.closest_sections and "not covered" in answer.reason
    assert answer.provenance  # even a refusal says which article it searched


def test_three_outcomes_answer_closest_and_not_covered(built_index: Any, index_dir: Path) -> None:
    index, question = load_build(index_dir), "How is a bone marrow biopsy done?"
    confidence = Engine(index, FakeEmbedder()).ask(question).confidence
    clear = Engine(index, FakeEmbedder(), cover_threshold=confidence - TENTATIVE_MARGIN * 2).ask(question)
    assert clear.outcome == "answer" and clear.answered and not clear.tentative
    assert answer_json(clear)["outcome"] == "answer" and "tentative" not in answer_json(clear)
    assert "may not say exactly" not in answer_text(clear)
    # Evidence below the answer threshold, on the subject: the best one or two passages, said so.
    just = Engine(index, FakeEmbedder(), cover_threshold=confidence - TENTATIVE_MARGIN / 2).ask(question)
    assert just.outcome == "closest" and just.answered and just.tentative and "closest" in just.reason
    assert answer_json(just)["tentative"] is True and answer_json(just)["outcome"] == "closest"
    assert 1 <= len(just.passages) <= 2
    assert "may not say exactly" in answer_text(just).replace("\n", " ")
    # The threshold never makes an on-subject question "not covered": that is the subject's call.
    above = Engine(index, FakeEmbedder(), cover_threshold=confidence + 0.5).ask(question)
    assert above.outcome == "closest" and above.passages


def test_an_off_subject_question_is_not_covered_even_after_an_on_subject_conversation(
    built_index: Any, index_dir: Path
) -> None:
    engine = Engine(load_build(index_dir), FakeEmbedder(baseline=0.0))
    history = ["How is a bone marrow biopsy done?", "is it painful?"]
    alone = engine.ask("banana bread recipe with walnuts")
    after = engine.ask("banana bread recipe with walnuts", history)
    assert alone.outcome == after.outcome == "not_covered"
    assert after.passages == () and answer_json(after)["answered"] is False


def test_json_output_has_query_highlights_and_advice(fake_engine: Engine) -> None:
    out = answer_json(fake_engine.ask("should I stop my chemo?", ["What is chemotherapy?"]))
    assert out["advice"] == "discuss-with-care-team"
    assert isinstance(out["query"], str) and out["query"]
    for passage in out["passages"]:
        for start, end in passage["highlights"]:
            assert 0 <= start < end <= len(passage["text"])


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("I have a fever of 39 and I am on chemo", "urgent"),
        ("crushing chest pain right now", "emergency"),
        ("I want to kill myself", "crisis"),
    ],
)
def test_alert_comes_with_the_answer(fake_engine: Engine, message: str, kind: str) -> None:
    answer = fake_engine.ask(message)
    assert answer.alert is not None and answer.alert["kind"] == kind


def test_ordinary_question_has_no_alert(fake_engine: Engine) -> None:
    assert fake_engine.ask("What symptoms can refractory myeloma cause?").alert is None


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01", "???", "!!! … ???", "<>"])
def test_questions_without_words_are_declined_cleanly(fake_engine: Engine, question: str) -> None:
    answer = fake_engine.ask(question)
    assert not answer.answered and answer.passages == ()


def test_long_question_is_truncated(fake_engine: Engine) -> None:
    answer = fake_engine.ask("biopsy " * 50_000)
    assert len(answer.question) <= 1000 and answer.answered


def test_everyday_words_the_corpus_lacks_weigh_less_than_specific_ones(tmp_path: Path) -> None:
    """Word coverage: "anything" missing from a passage says little, "dialysis" missing says a lot."""
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    bm25 = engine.retriever.bm25
    biopsy = next(i for i, c in enumerate(engine.index.chunks) if c.section == ("Bone Marrow Biopsy",))
    everyday = bm25.coverage(engine._word_weights("is there anything about the biopsy"), biopsy)
    specific = bm25.coverage(engine._word_weights("is there dialysis after the biopsy"), biopsy)
    assert everyday > 0.8 and specific < 0.6
    # who the question is about never counts against a passage
    assert bm25.coverage(engine._word_weights("my brother's biopsy"), biopsy) == 1.0


KINDS = (
    "Guide\n\nOverview\n\nMyeloma is a cancer of the plasma cells in the bone marrow. It can come back.\n\n"
    "Kinds\n\nIt is a type of myeloma that keeps coming back. Myeloma comes back in some people.\n"
)


def _unweighted(engine: Engine, question: str) -> tuple[Any, np.ndarray, dict[tuple[str, ...], float]]:
    """A question's search, its vector, and each section's score with no answer-type weight."""
    search = engine.search_query(question)
    vector = engine.embedder.encode([search.text])[0]
    hits = engine.retriever.search(vector, terms(search.text), 2)
    return search, vector, {h.chunk.section: h.score for h in hits}


def test_a_sentence_that_defines_the_subject_is_recognised(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": KINDS})
    by_section = {c.section: i for i, c in enumerate(engine.index.chunks)}
    retriever = engine.retriever
    assert retriever.defines(by_section[("Overview",)], "myeloma")
    assert not retriever.defines(by_section[("Kinds",)], "myeloma")  # mentions it, does not define it
    assert not retriever.defines(by_section[("Overview",)], "plasma cells")


def test_a_definition_question_adds_the_definition_weight_to_the_defining_passage(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": KINDS})
    search, vector, plain = _unweighted(engine, "What is myeloma?")
    assert search.defines == "myeloma"
    hits = engine.retriever.find(vector, search, 2)
    boosted = {h.chunk.section: h.score for h in hits}
    weight = engine.retriever.fusion.definition
    assert boosted[("Overview",)] == pytest.approx(plain[("Overview",)] + weight)
    assert boosted[("Kinds",)] == pytest.approx(plain[("Kinds",)])


CAUSES = (
    "Guide\n\nResistance\n\nMyeloma cells stop responding to the drugs. The drugs stop working.\n\n"
    "Why It Happens\n\nThe drugs stop working because myeloma cells mutate and adapt to them.\n"
)


def test_a_why_question_adds_the_cause_weight_to_the_passage_that_explains(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": CAUSES})
    by_section = {c.section: i for i, c in enumerate(engine.index.chunks)}
    assert engine.retriever.explains(by_section[("Why It Happens",)])
    assert not engine.retriever.explains(by_section[("Resistance",)])
    search, vector, plain = _unweighted(engine, "why do the drugs stop working?")
    assert search.asks_cause
    assert plain[("Resistance",)] > plain[("Why It Happens",)]  # describes it more, explains nothing
    hits = engine.retriever.find(vector, search, 2)
    weight = engine.retriever.fusion.cause
    assert {h.chunk.section: h.score for h in hits} == {
        ("Why It Happens",): pytest.approx(plain[("Why It Happens",)] + weight),
        ("Resistance",): pytest.approx(plain[("Resistance",)]),
    }
    # a question that does not ask why gets no such weight
    other = engine.search_query("do the drugs stop working?")
    assert not other.asks_cause
    assert {h.chunk.section: h.score for h in engine.retriever.find(vector, other, 2)} == pytest.approx(plain)


TWO_TOPICS = (
    "Guide\n\nCauses\n\nMyeloma is caused by plasma cells that grow out of control in the marrow.\n\n"
    "Symptoms\n\nSymptoms include bone pain, tiredness and infections.\n\n"
    "Imaging\n\nScans show damage to the bones.\n"
)


def test_a_message_asking_two_things_shows_a_passage_for_each(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": TWO_TOPICS})
    answer = engine.ask("what causes myeloma and what are the symptoms?")
    sections = [p.section for p in answer.passages]
    assert any(s.endswith("Causes") for s in sections) and any(s.endswith("Symptoms") for s in sections)
    assert " / " in answer.query  # each part was searched on its own


def test_a_medicine_the_synonym_file_names_is_never_a_confident_answer(tmp_path: Path) -> None:
    """A `[names]` entry leads the search to its class like any synonym, but the corpus never names
    it; the same entry as an everyday lay word is answered from the class."""
    question = "how is a jamshidi biopsy done?"
    lay = _engine(
        tmp_path / "lay", {"guide.txt": GUIDE, "synonyms.toml": '"jamshidi" = ["bone marrow biopsy"]\n'}
    )
    assert lay.ask(question).outcome == "answer"
    named = _engine(
        tmp_path / "named",
        {"guide.txt": GUIDE, "synonyms.toml": '[names]\n"jamshidi" = ["bone marrow biopsy"]\n'},
    )
    answer = named.ask(question)
    assert answer.outcome == "closest" and answer.passages
    assert answer.search.expansions == ("bone marrow biopsy",)  # still searched as its class
    assert named.ask("How is a bone marrow biopsy done?").outcome == "answer"


def test_an_emergency_card_is_the_whole_answer(fake_engine: Engine) -> None:
    answer = fake_engine.ask("my husband has myeloma and suddenly can't move his legs and has wet himself")
    assert answer.alert and answer.alert["kind"] == "emergency"
    assert answer.passages == () and answer.outcome == "not_covered"
    text = answer_text(answer)
    assert text.startswith("!! EMERGENCY") and "\n\n" not in text.strip()  # nothing after the card
    urgent = fake_engine.ask("I have a fever of 39 and I am on chemo, what is refractory myeloma?")
    assert urgent.alert and urgent.alert["kind"] == "urgent" and urgent.passages  # the card, then passages


def test_a_name_the_corpus_never_uses_is_never_a_confident_answer(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"guide.txt": GUIDE})
    assert engine.ask("How is a bone marrow biopsy done?").outcome == "answer"
    for question in ("Is a bone marrow biopsy done in Manchester?", "is daratumumab given after a biopsy?"):
        answer = engine.ask(question)
        assert answer.outcome == "closest" and answer.passages, question
        assert "never names" in answer.reason
    # Whom it is about and slips of everyday words are not names.
    assert engine.ask("How is a bone marrow biopsy done for my grandad?").outcome == "answer"
