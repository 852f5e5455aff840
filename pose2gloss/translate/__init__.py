"""Gloss sentences to English: offline rules by default, an optional OpenAI-compatible LLM."""

from pose2gloss.translate.backends import (
    ChatTranslator,
    FallbackTranslator,
    RuleTranslator,
    Translation,
    TranslationError,
    Translator,
    translator_from_env,
)
from pose2gloss.translate.rules import translate_glosses

__all__ = [
    "ChatTranslator",
    "FallbackTranslator",
    "RuleTranslator",
    "Translation",
    "TranslationError",
    "Translator",
    "translate_glosses",
    "translator_from_env",
]
