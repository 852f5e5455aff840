"""Offline gloss -> English: a small rule-based grammar, good enough to read a gloss sentence aloud.

ASL glosses have no articles, no tense endings and no copula, put time markers first or last and
wh-words last. The rules below put back what English needs: subject-verb order with agreement,
articles and "to" for places, pronoun case (ME -> I), tense from time markers (YESTERDAY, FINISH ->
past; TOMORROW, WILL -> future; NOW -> progressive), negation with do-support, and questions (a
wh-word or a trailing "?"). Unknown glosses pass through as words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIASES = {
    "me": "i", "hesheit": "he", "weus": "we", "yourself": "you", "minemy": "my", "mine": "my",
    "callonphone": "call", "glasswindow": "window", "icecream": "ice cream", "frenchfries": "French fries",
    "haveto": "must", "thankyou": "thank you", "tv": "TV", "owie": "hurt",
}  # fmt: skip
SUBJECT_PRONOUNS = {"i": "I", "you": "you", "he": "he", "she": "she", "it": "it", "we": "we", "they": "they"}
OBJECT_PRONOUNS = {"i": "me", "you": "you", "he": "him", "she": "her", "it": "it", "we": "us", "they": "them"}
POSSESSIVES = {"my", "your", "his", "her", "its", "our", "their"}
# time marker -> (tense, word kept at the end of the sentence or None)
TIME_MARKERS = {
    "yesterday": ("past", "yesterday"), "finish": ("past", None), "past": ("past", None), "ago": ("past", None),
    "tomorrow": ("future", "tomorrow"), "will": ("future", None), "later": ("future", "later"),
    "future": ("future", None), "now": ("progressive", "now"), "today": (None, "today"),
    "morning": (None, "in the morning"), "night": (None, "at night"),
}  # fmt: skip
WH_WORDS = {"where", "what", "who", "why", "when", "how", "which"}
NEGATIONS = {"not", "never"}
INTERJECTIONS = {"hello", "bye", "yes", "no", "please", "thank you", "shhh", "yucky", "sorry"}
MODALS = {"can", "must", "should"}
# Verbs that take another verb as "to <verb>".
CATENATIVE = {"want", "need", "like", "love", "hate", "try", "forget", "learn"}
MOTION_VERBS = {"go", "come", "walk", "run", "drive", "fly", "ride"}
IRREGULAR_PAST = {
    "go": "went", "eat": "ate", "drink": "drank", "see": "saw", "have": "had", "make": "made", "give": "gave",
    "find": "found", "fall": "fell", "hear": "heard", "say": "said", "sleep": "slept", "read": "read",
    "ride": "rode", "think": "thought", "wake": "woke", "hide": "hid", "blow": "blew", "cut": "cut",
    "come": "came", "run": "ran", "buy": "bought", "do": "did", "know": "knew", "get": "got", "take": "took",
    "sit": "sat", "fly": "flew", "drive": "drove", "swim": "swam", "tell": "told", "hurt": "hurt",
    "draw": "drew", "write": "wrote", "feel": "felt", "win": "won", "lose": "lost",
}  # fmt: skip
REGULAR_VERBS = {
    "like", "love", "want", "need", "hate", "look", "listen", "talk", "jump", "kiss", "touch", "open", "close",
    "clean", "drop", "wait", "stay", "play", "call", "taste", "pretend", "smile", "nap", "help", "work", "learn",
    "walk", "dance", "cry", "finish", "vacuum", "shower", "wash", "cook", "study", "try", "climb", "share",
    "forget", "stop", "watch", "live", "miss", "hug",
}  # fmt: skip
VERBS = REGULAR_VERBS | set(IRREGULAR_PAST)
ADJECTIVES = {
    "happy", "sad", "hungry", "thirsty", "sick", "sleepy", "mad", "tired", "fine", "hot", "cold", "bad", "good",
    "cute", "dirty", "wet", "dry", "loud", "quiet", "pretty", "old", "fast", "awake", "noisy", "sticky", "empty",
    "stuck", "big", "small", "high", "same", "better", "red", "blue", "green", "yellow", "white", "black",
    "brown", "orange", "clean", "ready", "busy", "scared", "hurt",
}  # fmt: skip
# Places: "go to the store", but "go to school", "go home", "go outside".
PLACES = {"store", "school", "home", "bed", "bedroom", "backyard", "farm", "pool", "outside", "room", "park",
          "work", "church", "library", "kitchen", "bathroom", "zoo", "beach", "hospital", "there"}  # fmt: skip
PLACES_WITHOUT_ARTICLE = {"school", "home", "bed", "outside", "work", "church", "there"}
PLACES_WITHOUT_TO = {"home", "outside", "there"}
UNCOUNTABLE = {
    "water", "milk", "food", "cereal", "pizza", "ice cream", "chocolate", "gum", "snow", "rain", "grass", "juice",
    "coffee", "candy", "French fries", "nuts", "jeans", "pajamas", "scissors", "underwear", "TV", "time",
    "help", "music", "money", "homework", "breakfast", "lunch", "dinner",
}  # fmt: skip
NAMES = {"mom", "dad", "grandma", "grandpa", "aunt", "uncle"}  # family words act as names: no article
DOUBLED_FINAL = {"drop", "nap", "stop", "hug", "cut", "run", "swim", "sit", "win", "get", "shop"}


@dataclass
class _Clause:
    subject: list[str] = field(default_factory=list)
    head: str | None = None  # the verb or adjective
    head_is_verb: bool = True
    rest: list[str] = field(default_factory=list)


def translate_glosses(glosses: list[str]) -> str:
    """One English sentence for a gloss sentence: ``ME GO STORE YESTERDAY`` -> "I went to the store yesterday."."""
    tokens = _normalise(glosses)
    question = bool(tokens) and tokens[-1] == "?"
    tokens = [t for t in tokens if t != "?"]
    if not tokens:
        return ""
    if all(t in INTERJECTIONS for t in tokens):
        return _finish(", ".join(tokens), question)
    tense, time_words = None, []
    for token in [t for t in tokens if t in TIME_MARKERS]:
        marker_tense, word = TIME_MARKERS[token]
        tense = tense or marker_tense
        if word:
            time_words.append(word)
    tokens = [t for t in tokens if t not in TIME_MARKERS]
    wh = next((t for t in tokens if t in WH_WORDS), None)
    negated = any(t in NEGATIONS for t in tokens)
    tokens = [t for t in tokens if t not in WH_WORDS and t not in NEGATIONS and t not in INTERJECTIONS]
    clause = _parse(tokens)
    if wh == "who" and not clause.subject:
        clause.subject, wh_text = ["who"], None
        words = _declarative(clause, tense or "present", negated)
        return _finish(" ".join(words + time_words), True)
    wh_text = wh.capitalize() if wh else None
    if wh_text or question:
        words = _question(clause, tense or "present", negated, wh_text)
    else:
        words = _declarative(clause, tense or "present", negated)
    return _finish(" ".join(words + time_words), bool(wh_text or question))


def _normalise(glosses: list[str]) -> list[str]:
    tokens: list[str] = []
    for gloss in glosses:
        for part in str(gloss).replace("?", " ? ").split():
            word = part.strip(".,!").lower()
            if word:
                tokens.append(ALIASES.get(word, word))
    return tokens


def _parse(tokens: list[str]) -> _Clause:
    """Split into subject, head (first verb or modal, else first adjective) and the rest."""
    clause = _Clause()
    head_at = next((i for i, t in enumerate(tokens) if t in VERBS or t in MODALS), None)
    if head_at is None:
        head_at = next((i for i, t in enumerate(tokens) if t in ADJECTIVES), None)
        clause.head_is_verb = False
    if head_at is None:
        clause.subject = tokens  # nothing to conjugate: a noun phrase
        return clause
    clause.subject, clause.head, clause.rest = tokens[:head_at], tokens[head_at], tokens[head_at + 1 :]
    return clause


def _noun_phrase(tokens: list[str], subject: bool, after: str | None = None) -> list[str]:
    """Articles, pronoun case and "to" before places; ``after`` is the verb the phrase follows."""
    out: list[str] = []
    for phrase in _phrases(tokens):
        head = phrase[-1]
        if head in SUBJECT_PRONOUNS:
            out.append(SUBJECT_PRONOUNS[head] if subject else OBJECT_PRONOUNS[head])
            continue
        determined = phrase[0] in POSSESSIVES or head in NAMES or head == "who"
        if head in PLACES:
            if after in MOTION_VERBS and head not in PLACES_WITHOUT_TO and not out:
                out.append("to")
            if not determined and head not in PLACES_WITHOUT_ARTICLE:
                out.append("the")
        elif not determined and head not in UNCOUNTABLE and head not in ADJECTIVES:
            out.append("the" if subject else ("an" if phrase[0][:1] in "aeiou" else "a"))
        out.extend(phrase)
    return out


def _phrases(tokens: list[str]) -> list[list[str]]:
    """Group into phrases of [possessive] [adjectives] [noun]; a pronoun is a phrase of its own."""
    phrases: list[list[str]] = []
    current: list[str] = []
    for token in tokens:
        if token in SUBJECT_PRONOUNS:
            phrases += [current] if current else []
            phrases.append([token])
            current = []
        elif token in POSSESSIVES or token in ADJECTIVES:
            if current and current[-1] not in POSSESSIVES and current[-1] not in ADJECTIVES:
                phrases.append(current)
                current = []
            current.append(token)
        else:
            current.append(token)
            phrases.append(current)
            current = []
    return phrases + ([current] if current else [])


def _person(subject: list[str]) -> str:
    """'1s' (I), '3s' (he, she, it, a singular noun) or 'pl' (you, we, they, no subject)."""
    if subject == ["i"]:
        return "1s"
    if not subject or subject[-1] in ("you", "we", "they"):
        return "pl"
    return "3s"


def _be(tense: str, person: str, negated: bool) -> list[str]:
    if tense == "past":
        word = "was" if person in ("1s", "3s") else "were"
    elif tense == "future":
        return ["will", "not", "be"] if negated else ["will", "be"]
    else:
        word = {"1s": "am", "3s": "is"}.get(person, "are")
    return [word, "not"] if negated else [word]


def _verb_rest(clause: _Clause) -> list[str]:
    """The words after the head verb: "to" before a second verb after want/need/..., objects."""
    rest = clause.rest
    if clause.head in CATENATIVE and rest and rest[0] in VERBS:
        return ["to", rest[0], *_noun_phrase(rest[1:], subject=False, after=rest[0])]
    if clause.head in MODALS and rest and rest[0] in VERBS:
        return [rest[0], *_noun_phrase(rest[1:], subject=False, after=rest[0])]
    return _noun_phrase(rest, subject=False, after=clause.head)


def _declarative(clause: _Clause, tense: str, negated: bool) -> list[str]:
    subject = _noun_phrase(clause.subject, subject=True)
    person = _person(clause.subject)
    if clause.head is None:
        return subject
    if not clause.head_is_verb:
        return subject + _be(tense, person, negated) + _noun_phrase([clause.head, *clause.rest], subject=False)
    verb, rest = clause.head, _verb_rest(clause)
    if verb in MODALS:
        return subject + [verb] + (["not"] if negated else []) + rest
    if tense == "future":
        verbs = ["will", "not", verb] if negated else ["will", verb]
    elif tense == "progressive":
        verbs = [*_be("present", person, negated), _ing(verb)]
    elif negated:
        verbs = ["did" if tense == "past" else ("does" if person == "3s" else "do"), "not", verb]
    elif tense == "past":
        verbs = [_past(verb)]
    else:
        verbs = [_third(verb) if person == "3s" else verb]
    return subject + verbs + rest


def _question(clause: _Clause, tense: str, negated: bool, wh: str | None) -> list[str]:
    subject = _noun_phrase(clause.subject, subject=True) or ["you"]
    person = _person(clause.subject)
    lead = [wh] if wh else []
    if clause.head is None:  # "YOUR NAME WHAT" -> "What is your name?"
        return lead + _be(tense, "3s" if clause.subject else "pl", negated) + subject
    if not clause.head_is_verb:
        be = _be(tense, person, negated)
        return lead + be[:1] + subject + be[1:] + _noun_phrase([clause.head, *clause.rest], subject=False)
    verb, rest = clause.head, _verb_rest(clause)
    if verb in MODALS:
        return lead + [verb] + subject + (["not"] if negated else []) + rest
    if tense == "future":
        aux, main = ["will"], [verb]
    elif tense == "progressive":
        aux, main = _be("present", person, False), [_ing(verb)]
    else:
        aux, main = ["did" if tense == "past" else ("does" if person == "3s" else "do")], [verb]
    return lead + aux + subject + (["not"] if negated else []) + main + rest


def _past(verb: str) -> str:
    if verb in IRREGULAR_PAST:
        return IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    if verb in DOUBLED_FINAL:
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _third(verb: str) -> str:
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _ing(verb: str) -> str:
    if verb.endswith("e") and verb not in ("see", "be"):
        return verb[:-1] + "ing"
    if verb in DOUBLED_FINAL:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _finish(text: str, question: bool) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text + ("?" if question else ".")
