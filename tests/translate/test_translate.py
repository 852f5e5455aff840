"""Gloss sentences to English: the offline rules and the LLM backend with its fallback."""

from __future__ import annotations

import httpx
import pytest

from pose2gloss.translate import (
    ChatTranslator,
    FallbackTranslator,
    RuleTranslator,
    translate_glosses,
    translator_from_env,
)

TABLE = [
    # word order, tense from time markers, ME -> I, "to the" before places
    ("ME GO STORE YESTERDAY", "I went to the store yesterday."),
    ("YESTERDAY ME GO STORE", "I went to the store yesterday."),
    ("TOMORROW ME GO SCHOOL", "I will go to school tomorrow."),
    ("WEUS GO FARM TOMORROW", "We will go to the farm tomorrow."),
    ("ME FINISH EAT", "I ate."),
    ("MOM GO HOME NOW", "Mom is going home now."),
    ("GO BED", "Go to bed."),
    # agreement, articles
    ("HESHEIT LIKE DOG", "He likes a dog."),
    ("SHE HAVE CAT", "She has a cat."),
    ("DOG EAT APPLE", "The dog eats an apple."),
    ("ME SEE BIG DOG", "I see a big dog."),
    ("ME SEE DOG YESTERDAY", "I saw a dog yesterday."),
    ("CAT SLEEP", "The cat sleeps."),
    ("ME WANT DRINK WATER", "I want to drink water."),
    ("ME CAN READ BOOK", "I can read a book."),
    ("ME CALLONPHONE GRANDMA", "I call grandma."),
    # copula, negation
    ("ME HAPPY", "I am happy."),
    ("ME HUNGRY YESTERDAY", "I was hungry yesterday."),
    ("HESHEIT NOT HAPPY", "He is not happy."),
    ("ME NOT LIKE RAIN", "I do not like rain."),
    # questions
    ("YOU GO WHERE", "Where do you go?"),
    ("YOU GO WHERE YESTERDAY", "Where did you go yesterday?"),
    ("YOU WANT WHAT", "What do you want?"),
    ("MINEMY NAME WHAT", "What is my name?"),
    ("WHO GO STORE", "Who goes to the store?"),
    ("YOU LIKE MILK ?", "Do you like milk?"),
    ("YOU HUNGRY ?", "Are you hungry?"),
    # greetings, lower case and unknown glosses
    ("HELLO", "Hello."),
    ("THANKYOU", "Thank you."),
    ("me go store", "I go to the store."),
]


@pytest.mark.parametrize(("glosses", "english"), TABLE)
def test_rules(glosses, english):
    assert translate_glosses(glosses.split()) == english


def test_empty_sentence_is_empty():
    assert translate_glosses([]) == ""
    assert FallbackTranslator(RuleTranslator()).translate([]).text == ""


def _chat(handler) -> ChatTranslator:
    return ChatTranslator("http://llm.test/v1", "tiny", api_key="k", transport=httpx.MockTransport(handler))


def test_llm_backend_sends_the_glosses_and_returns_its_sentence():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"], seen["auth"], seen["body"] = str(request.url), request.headers["authorization"], request.read()
        return httpx.Response(200, json={"choices": [{"message": {"content": " I went to the shop. "}}]})

    result = FallbackTranslator(_chat(handler)).translate(["ME", "GO", "STORE"])
    assert result.text == "I went to the shop." and result.notice is None
    assert result.backend == "LLM tiny at http://llm.test/v1"
    assert seen["url"] == "http://llm.test/v1/chat/completions" and seen["auth"] == "Bearer k"
    assert b"ME GO STORE" in seen["body"]


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(200, json={"nothing": 1}), "without choices"),
        (httpx.Response(200, json={"choices": [{"message": {"content": ""}}]}), "empty"),
        (httpx.ConnectError("refused"), "did not answer"),
    ],
)
def test_llm_failure_falls_back_to_the_rules_with_a_notice(response, why):
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    result = FallbackTranslator(_chat(handler)).translate(["ME", "GO", "STORE", "YESTERDAY"])
    assert result.text == "I went to the store yesterday."
    assert result.backend == "rules (offline)"
    assert why in result.notice and "LLM tiny" in result.notice


def test_backend_from_environment():
    assert translator_from_env({}).name == "rules (offline)"
    llm = translator_from_env({"POSE2GLOSS_LLM_URL": "http://x/v1", "POSE2GLOSS_LLM_MODEL": "m", "OPENAI_API_KEY": "s"})
    assert llm.name == "LLM m at http://x/v1"
    with pytest.raises(ValueError, match="POSE2GLOSS_LLM_TIMEOUT"):
        translator_from_env({"POSE2GLOSS_LLM_URL": "http://x", "POSE2GLOSS_LLM_TIMEOUT": "soon"})
