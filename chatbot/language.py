"""The language the chatbot reads: English words and rules, in one place.

Every module that must know English (what a word is, which words carry no meaning, how patients
contract and shorten) takes it from here, so the tokenizer, BM25, typo correction, follow-up
resolution, coverage and the safety rules agree, and a second language has one module to supply.

A second language must supply:

1. Words (here): `words` (what a word is), `STOPWORDS`, a stemmer (`stem`, Snowball has many).
2. Contractions and shorthand (here): `NOT_SPELT`/`NEGATED_HEADS` (negations as the query reads
   them), `NT`, `NT_FULL`, `SUFFIX`, `SUFFIX_FULL`, `PRONOUN_S`, `APOSTROPHES` and `CONTRACTIONS`
   (as the safety rules read them), `SHORTHAND` (text-message spellings).
3. Question words (here): `ANAPHORA`, `WEAK_ANAPHORA`, `DEMONSTRATIVES`, `GENERIC_NOUNS`,
   `CONNECTORS`, `CONNECTOR_PHRASES`, `QUESTION_FILLER` (follow-ups), `WHO` (whom a question is
   about, left out of word coverage).
4. English patterns kept beside the code they drive: `question/query.py` (definition, cause and
   set-aside questions), `question/answer_kinds.py` (what a cost, an age, a length of time looks
   like), `answering/retrieval.py` (defining sentences), `indexing/chunking.py` (sentence ends and
   abbreviations), `corpus/outline.py` (bylines, dates, footers).
5. Data files: `safety/safety.toml` (urgent phrases, cues and advice phrases), each corpus's
   `synonyms.toml` (lay words to clinical ones), and the model's own vocabulary (spelling).
6. What a person reads: `present.py` (answer layout), `web/chat.py`, `web/staff.py`,
   `web/transcript.py` and `web/article.py` (page text), `errors.py` (messages).
"""

from __future__ import annotations

import re
from functools import lru_cache

# ---------------------------------------------------------------- words

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Common English function words; question words are kept out of BM25 because every question has them.
# fmt: off
STOPWORDS = frozenset(
    [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
        "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
        "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
        "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
        "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me",
        "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only", "or",
        "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
        "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
        "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was",
        "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
        "would", "you", "your", "yours", "yourself", "yourselves", "also", "may", "might", "must",
        "shall", "us", "get", "got", "tell", "know", "please", "thanks", "thank", "i'm", "it's",
        "what's", "whats", "dont", "cant", "wont", "doesnt", "didnt", "isnt", "arent", "wasnt",
        "werent", "hasnt", "havent", "shouldnt", "couldnt", "wouldnt", "don't", "im", "ive", "i've",
    ]
)
# fmt: on


def words(text: str) -> list[str]:
    """Lower-cased words of a text, apostrophes normalised, nothing removed."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def term_words(text: str) -> list[tuple[str, str]]:
    """The content words of a text, each with its BM25 term (its stem)."""
    return [(w, stem(w)) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def terms(text: str) -> list[str]:
    """BM25 terms: content words, stemmed."""
    return [t for _, t in term_words(text)]


# ---------------------------------------------------------------- contractions and shorthand

# Negative contractions, with and without the apostrophe patients often leave out.
NEGATED_HEADS = {"ca": "can", "wo": "will", "does": "do"}  # "don't work" is "doesn't work"
NOT_SPELT = re.compile(
    r"^(?:(do|does|did|is|are|was|were|ca|wo|could|would|should|have|has|had|need|must)n'?t|(can)not)$"
)
APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u2032`\u00b4]")
NT = re.compile(r"\b(can|won|shan|ain)'t\b|n't\b")
SUFFIX = re.compile(r"(?<=[a-z])'(m|re|ve|ll|d|s)\b")
SUFFIX_FULL = {"m": " am", "re": " are", "ve": " have", "ll": " will", "d": " would", "s": ""}
PRONOUN_S = re.compile(r"\b(he|she|it|that|there|what|who|where|here)'s\b")
NT_FULL = {"can": "can not", "won": "will not", "shan": "shall not", "ain": "is not"}
CONTRACTIONS = {
    **{w + "nt": w + " not" for w in ["do", "does", "did", "is", "are", "was", "were", "has", "have", "had"]},
    **{w + "nt": w + " not" for w in ["could", "would", "should", "must", "need"]},
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "aint": "is not",
    "im": "i am",
    "ive": "i have",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "dunno": "do not know",
    "nite": "night",
    "tonite": "tonight",
    "u": "you",
    "ur": "your",
}

# ---------------------------------------------------------------- question words

# Who a question is about ("my brother has numbness...") says nothing of whether the corpus covers
# it, but as words no article uses they would weigh the most in the word coverage: left out there.
WHO = frozenset(
    terms(
        "brother sister wife husband partner mum mom mother dad father son daughter child children "
        "kid kids friend family grandma grandpa grandmother grandfather aunt uncle "
        "boyfriend girlfriend spouse parent parents grandad granddad gran granny nan nana grandparent "
        "grandson granddaughter grandchild grandchildren niece nephew cousin neighbour neighbor carer "
        "caregiver fiance fiancee stepmother stepfather stepdad stepmum"
    )
)
# Words that point back at something said before. "they" and "their" are weak: patients use them
# for the doctors ("what will they do?") as often as for the topic.
# fmt: off
ANAPHORA = frozenset(
    [
        "it", "its", "it's", "this", "that", "them", "these", "those", "one", "ones", "other", "others",
        "another", "same", "both",
    ]
)
# fmt: on
# Text-message spellings ("wat are the symtoms", "how r u"): too short for the edit-distance search,
# or real words elsewhere ("wat" is a Thai temple), and mostly function words it never proposes.
SHORTHAND = {
    "wat": "what",
    "wht": "what",
    "wut": "what",
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "b4": "before",
    "dr": "doctor",
    "drs": "doctors",
}
DEMONSTRATIVES = frozenset(["this", "that", "these", "those"])
# After a demonstrative these name the patient's own illness ("can this cancer hurt my kidneys?").
GENERIC_NOUNS = frozenset(["cancer", "disease", "condition", "illness", "myeloma", "sickness"])
WEAK_ANAPHORA = frozenset(["they", "their", "theirs"])
CONNECTORS = frozenset(["and", "also", "so", "but", "then", "or", "plus"])
CONNECTOR_PHRASES = frozenset({"what about", "how about", "what else", "and what"})
# fmt: off
QUESTION_FILLER = frozenset(
    [
        "work", "works", "done", "risky", "safe", "dangerous", "bad", "good", "serious", "common",
        "mean", "means", "cost", "long", "take", "often", "help", "helps", "effective", "curable",
        "painful", "hurt",
    ]
)
# fmt: on

# ---------------------------------------------------------------- what a message asks

# How a request to know opens ("I want to ...", "I'm wondering ..."), shared by the two patterns below.
_WANT_TO = r"i (?:want|need|would like|d like|'d like|wish|am trying|m trying) to"
_WONDER = r"i(?:'m| am)? (?:wondering|wonder|curious)|wondering|i was wondering|my question is"
# How a sentence that asks opens, when it does not end with "?": "what ...", "can you tell me ...",
# "I want to know ...", "please explain ..." (`question.message`). Anything else is background.
ASKING_OPENERS = re.compile(
    r"^\W*(?:(?:so|and|but|also|ok|okay|well|basically|anyway|now|please)\W+)*"
    r"(?:what|whats|wat|how|why|when|where|which|who|whom|whose|is|are|am|was|were|do|does|did|can|could"
    r"|should|shall|will|would|may|might|must|has|have|had|any|anything|tell me|explain|describe"
    rf"|{_WANT_TO} (?:know|understand|find out|ask)|{_WONDER}|question)\b",
    re.IGNORECASE,
)
# Of those, the ones that ask by request, question mark or not ("please explain ...").
REQUEST_OPENERS = re.compile(
    r"^\W*(?:(?:so|and|but|also|ok|okay|well|anyway|now)\W+)*(?:please|can you|could you|would you|tell me"
    rf"|explain|describe|{_WANT_TO}|{_WONDER}|what i (?:want|wanted|mean))\b",
    re.IGNORECASE,
)
# Joins two questions in one sentence: "what causes it and what are the symptoms?".
QUESTION_JOIN = re.compile(
    r"\s*(?:,\s*)?(?:\band\b|\balso\b|;|\bplus\b|\bor\b)\s+(?:also\s+)?(?="
    r"(?:what|how|why|when|where|which|who|is|are|does|do|can|could|should|will)\b)",
    re.IGNORECASE,
)
