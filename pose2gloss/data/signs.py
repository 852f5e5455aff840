"""The 250 glosses of the GISLR ("asl-signs") competition, in the order of its label ids.

The real data ships them as ``sign_to_prediction_index_map.json``; the synthetic sample
uses the same names and ids so that a model trained on either speaks the same vocabulary.
"""

from __future__ import annotations

from typing import Final

GISLR_SIGNS: Final[tuple[str, ...]] = (
    "TV", "after", "airplane", "all", "alligator", "animal", "another", "any", "apple", "arm",
    "aunt", "awake", "backyard", "bad", "balloon", "bath", "because", "bed", "bedroom", "bee",
    "before", "beside", "better", "bird", "black", "blow", "blue", "boat", "book", "boy",
    "brother", "brown", "bug", "bye", "callonphone", "can", "car", "carrot", "cat", "cereal",
    "chair", "cheek", "child", "chin", "chocolate", "clean", "close", "closet", "cloud", "clown",
    "cow", "cowboy", "cry", "cut", "cute", "dad", "dance", "dirty", "dog", "doll", "donkey",
    "down", "drawer", "drink", "drop", "dry", "dryer", "duck", "ear", "elephant", "empty", "every",
    "eye", "face", "fall", "farm", "fast", "feet", "find", "fine", "finger", "finish", "fireman",
    "first", "fish", "flag", "flower", "food", "for", "frenchfries", "frog", "garbage", "gift",
    "giraffe", "girl", "give", "glasswindow", "go", "goose", "grandma", "grandpa", "grass",
    "green", "gum", "hair", "happy", "hat", "hate", "have", "haveto", "head", "hear", "helicopter",
    "hello", "hen", "hesheit", "hide", "high", "home", "horse", "hot", "hungry", "icecream", "if",
    "into", "jacket", "jeans", "jump", "kiss", "kitty", "lamp", "later", "like", "lion", "lips",
    "listen", "look", "loud", "mad", "make", "man", "many", "milk", "minemy", "mitten", "mom",
    "moon", "morning", "mouse", "mouth", "nap", "napkin", "night", "no", "noisy", "nose", "not",
    "now", "nuts", "old", "on", "open", "orange", "outside", "owie", "owl", "pajamas", "pen",
    "pencil", "penny", "person", "pig", "pizza", "please", "police", "pool", "potty", "pretend",
    "pretty", "puppy", "puzzle", "quiet", "radio", "rain", "read", "red", "refrigerator", "ride",
    "room", "sad", "same", "say", "scissors", "see", "shhh", "shirt", "shoe", "shower", "sick",
    "sleep", "sleepy", "smile", "snack", "snow", "stairs", "stay", "sticky", "store", "story",
    "stuck", "sun", "table", "talk", "taste", "thankyou", "that", "there", "think", "thirsty",
    "tiger", "time", "tomorrow", "tongue", "tooth", "toothbrush", "touch", "toy", "tree", "uncle",
    "underwear", "up", "vacuum", "wait", "wake", "water", "wet", "weus", "where", "white", "who",
    "why", "will", "wolf", "yellow", "yes", "yesterday", "yourself", "yucky", "zebra", "zipper",
)
