"""Gloss sentence -> English behind one small interface: the offline rules, or an LLM that falls back to them.

The LLM backend talks to any OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).
It is used only when ``POSE2GLOSS_LLM_URL`` is set; when a call fails the rules answer instead and
the result carries a notice saying so, so the page can tell the user which backend produced the text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from pose2gloss.translate.rules import translate_glosses

SYSTEM_PROMPT = (
    "You translate American Sign Language gloss sentences into one natural English sentence. "
    "Glosses are in signing order, may lack articles and tense, and put time markers and "
    "wh-words where ASL puts them. Answer with the English sentence only."
)


class TranslationError(RuntimeError):
    """A backend could not translate; the message says why (HTTP status, timeout, bad reply)."""


@dataclass(frozen=True)
class Translation:
    text: str
    backend: str  # the backend that produced ``text``
    notice: str | None = None  # set when the configured backend failed and another answered


class Translator(Protocol):
    name: str

    def translate(self, glosses: list[str]) -> str:
        """English for ``glosses``; raises :class:`TranslationError` when it cannot."""
        ...


class RuleTranslator:
    """The offline default: :func:`pose2gloss.translate.rules.translate_glosses`."""

    name = "rules (offline)"

    def translate(self, glosses: list[str]) -> str:
        return translate_glosses(glosses)


class ChatTranslator:
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, ...)."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.name = f"LLM {model} at {self.url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)

    def translate(self, glosses: list[str]) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": " ".join(glosses)},
            ],
        }
        try:
            response = self._http.post(f"{self.url}/chat/completions", json=body)
        except httpx.HTTPError as err:
            raise TranslationError(f"{self.url} did not answer ({type(err).__name__}: {err})") from err
        if response.status_code != 200:
            raise TranslationError(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            text = response.json()["choices"][0]["message"]["content"].strip()
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise TranslationError(f"{self.url} sent a reply without choices[0].message.content") from err
        if not text:
            raise TranslationError(f"{self.url} sent an empty translation")
        return text


class FallbackTranslator:
    """``primary`` first; when it fails, ``fallback`` answers and the result carries a notice."""

    def __init__(self, primary: Translator, fallback: Translator | None = None) -> None:
        self.primary = primary
        self.fallback = fallback or RuleTranslator()
        self.name = primary.name

    def translate(self, glosses: list[str]) -> Translation:
        if not glosses:
            return Translation("", self.primary.name)
        try:
            return Translation(self.primary.translate(glosses), self.primary.name)
        except TranslationError as err:
            notice = f"{self.primary.name} failed ({err}); translated by {self.fallback.name} instead"
            return Translation(self.fallback.translate(glosses), self.fallback.name, notice)


def translator_from_env(environ: Mapping[str, str] | None = None) -> FallbackTranslator:
    """The rules, or the LLM named by ``POSE2GLOSS_LLM_URL`` / ``_MODEL`` / ``_API_KEY`` / ``_TIMEOUT``.

    ``POSE2GLOSS_LLM_API_KEY`` defaults to ``OPENAI_API_KEY``; the model to ``gpt-4o-mini``.
    """
    env = os.environ if environ is None else environ
    url = env.get("POSE2GLOSS_LLM_URL", "").strip()
    if not url:
        return FallbackTranslator(RuleTranslator())
    model = env.get("POSE2GLOSS_LLM_MODEL", "").strip() or "gpt-4o-mini"
    api_key = env.get("POSE2GLOSS_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None
    try:
        timeout = float(env.get("POSE2GLOSS_LLM_TIMEOUT", "10"))
    except ValueError as err:
        raise ValueError(f"POSE2GLOSS_LLM_TIMEOUT must be seconds, got {env['POSE2GLOSS_LLM_TIMEOUT']!r}") from err
    return FallbackTranslator(ChatTranslator(url, model, api_key, timeout))
