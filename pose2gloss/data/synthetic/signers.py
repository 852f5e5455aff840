"""The synthetic signers: body, placement, pace and style, and how well the tracker follows them.

Signers differ the way real participants do, so that a model has to generalise across them:
size, position, speed, amplitude, lax handshapes, personal rhythm, and some are left-handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

# The participants' random stream for a seed (the sample's other streams are in writer.py).
_PARTICIPANT_STREAM: Final[int] = 1
# Every fifth participant (the third, the eighth, ...) signs with the left hand.
_LEFT_HANDED_EVERY: Final[int] = 5
_LEFT_HANDED_FIRST: Final[int] = 2


@dataclass(frozen=True)
class Participant:
    """A signer: body, placement, pace and style, and how well the tracker follows them."""

    participant_id: int
    scale: float  # shoulder width in image units
    origin: np.ndarray  # (2,) image position of the point between the shoulders
    speed: float  # > 1 signs faster, i.e. shorter sequences
    reach: float  # multiplies the amplitude of hand movements
    face_size: float
    neck: float  # multiplies the head height above the shoulders
    space_shift: np.ndarray  # (2,) personal offset of the signing space
    left_handed: bool  # signs the mirror image, the left hand leading
    laxness: float  # in [0, 1): handshapes drift towards half-curled
    rhythm: float  # personal unevenness of pace within a sign, in (-1, 1)
    jitter: float  # tracking noise on the hands, body units
    dropout: float  # per-frame chance that the tracker starts losing a hand


def _random_participant(seed: int, index: int, participant_id: int) -> Participant:
    """A participant whose body, placement and pace come from ``seed`` and their index."""
    rng = np.random.default_rng([seed, _PARTICIPANT_STREAM, index])
    return Participant(
        participant_id=participant_id,
        scale=float(rng.uniform(0.28, 0.42)),
        origin=np.array([rng.uniform(0.4, 0.6), rng.uniform(0.62, 0.8)]),
        speed=float(rng.uniform(0.6, 1.6)),
        reach=float(rng.uniform(0.75, 1.3)),
        face_size=float(rng.uniform(0.9, 1.1)),
        neck=float(rng.uniform(0.9, 1.1)),
        space_shift=rng.normal(0.0, 0.06, size=2),
        left_handed=index % _LEFT_HANDED_EVERY == _LEFT_HANDED_FIRST,
        laxness=float(rng.uniform(0.0, 0.35)),
        rhythm=float(rng.uniform(-0.5, 0.5)),
        jitter=float(rng.uniform(0.004, 0.02)),
        dropout=float(rng.uniform(0.01, 0.06)),
    )
