"""The synthetic vocabulary: what each sign's movement is, and the families of look-alike signs.

A sign's movement depends on its label id only, never on the sample seed, so samples drawn with
different seeds are different recordings of the same vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pose2gloss.data.signs import GISLR_SIGNS

# Signs 3k, 3k+1 and 3k+2 of the vocabulary form a family of look-alikes (the last one takes four).
FAMILY_SIZE: Final[int] = 3
N_FAMILIES: Final[int] = len(GISLR_SIGNS) // FAMILY_SIZE
# How each member of a family orders the family's movement in time (the fourth is for the last,
# larger family). "there_and_back" runs the movement out and back at the same pace, so it lasts
# twice as long and visits every position twice.
ORDERS: Final[tuple[str, ...]] = ("forward", "reverse", "there_and_back", "back_and_there")

# Keeps the signs' random stream independent of the sample seed's streams.
_SIGN_SALT: Final[int] = 7_310_251
_N_WAVES: Final[int] = 2
# A family's handshape change: at least this many fingers open or close by at least _MIN_CURL_CHANGE.
_CHANGING_FINGERS: Final[int] = 2
_MIN_CURL_CHANGE: Final[float] = 0.5


@dataclass(frozen=True)
class HandMotion:
    """How one hand moves during a sign, in body units and normalised time u in [0, 1]."""

    centre: np.ndarray  # (2,) mean wrist position
    amps: np.ndarray  # (K, 2) amplitude per wave and axis
    freqs: np.ndarray  # (K,) cycles per sign
    phases: np.ndarray  # (K, 2) radians
    curl_start: np.ndarray  # (5,) finger curl in [0, 1] at u=0
    curl_end: np.ndarray  # (5,) finger curl at u=1
    roll_start: float  # in-plane hand rotation (radians) at u=0
    roll_end: float


@dataclass(frozen=True)
class SignSpec:
    """The class-defining movement of one sign (for a right-handed signer)."""

    label: int
    order: str  # one of ORDERS: how the family's movement is played in time
    right: HandMotion  # the dominant hand
    left: HandMotion | None  # None: one-handed sign, the other hand stays out of view
    mouth_amp: float  # 0: the mouth stays closed
    mouth_freq: float


def sign_family(label: int) -> int:
    """The family of look-alike signs that ``label`` belongs to."""
    return min(label // FAMILY_SIZE, N_FAMILIES - 1)


def sample_signs(n_signs: int) -> tuple[str, ...]:
    """The ``n_signs`` glosses of the sample: whole families, spread evenly over the vocabulary.

    Taking families whole keeps the look-alikes that make the real task hard in the sample.
    """
    _check_int("n_signs", n_signs, 1, len(GISLR_SIGNS))
    n_families = min(N_FAMILIES, -(-n_signs // FAMILY_SIZE))
    families = np.round(np.linspace(0, N_FAMILIES - 1, n_families)).astype(int)
    labels = [label for label in range(len(GISLR_SIGNS)) if sign_family(label) in set(families.tolist())]
    return tuple(GISLR_SIGNS[i] for i in labels[:n_signs])


def sign_spec(label: int) -> SignSpec:
    """The movement of sign ``label``; it depends on the label only, never on the sample seed.

    The family's shared movement, played in the member's :data:`ORDERS` entry.
    """
    family = sign_family(label)
    rng = np.random.default_rng([_SIGN_SALT, family])
    right = _random_hand_motion(rng, centre_x=(-0.55, 0.25), centre_y=(-0.85, 0.6))
    left_kind = rng.choice(["none", "none", "mirrored", "own"])
    own_left = _random_hand_motion(rng, centre_x=(-0.25, 0.55), centre_y=(-0.6, 0.7))
    phase_lag = float(rng.uniform(-0.3, 0.3))
    mouth_amp = float(rng.uniform(0.4, 1.0)) if rng.random() < 0.35 else 0.0
    mouth_freq = float(rng.choice([0.5, 1.0, 2.0]))
    left = {"none": None, "mirrored": _mirrored_motion(right, phase_lag), "own": own_left}[str(left_kind)]
    order = ORDERS[label - FAMILY_SIZE * family]
    return SignSpec(label, order, right, left, mouth_amp, mouth_freq)


def ordered_time(u: np.ndarray, order: str) -> np.ndarray:
    """Where in the family's movement each frame is, for a member that plays it in ``order``."""
    if order == "forward":
        return u
    if order == "reverse":
        return 1.0 - u
    if order == "there_and_back":
        return 1.0 - np.abs(2.0 * u - 1.0)
    if order == "back_and_there":
        return np.abs(2.0 * u - 1.0)
    raise ValueError(f"unknown order '{order}'; choose one of {ORDERS}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    """Reject non-integers and out-of-range values early, with a message naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _random_hand_motion(
    rng: np.random.Generator, centre_x: tuple[float, float], centre_y: tuple[float, float]
) -> HandMotion:
    """A smooth wrist curve (sum of a few sinusoids) plus a handshape that morphs over the sign.

    The handshape always changes visibly (:data:`_CHANGING_FINGERS` fingers at least), so which
    handshape comes first is part of the sign.
    """
    centre = np.array([rng.uniform(*centre_x), rng.uniform(*centre_y)])
    amps = rng.uniform(0.05, 0.35, size=(_N_WAVES, 2))
    freqs = rng.choice([0.5, 1.0, 1.5, 2.0], size=_N_WAVES)
    phases = rng.uniform(0.0, 2 * np.pi, size=(_N_WAVES, 2))
    curl_start = rng.uniform(0.0, 1.0, size=5)
    curl_end = rng.uniform(0.0, 1.0, size=5)
    for finger in rng.choice(5, size=_CHANGING_FINGERS, replace=False):
        if abs(curl_end[finger] - curl_start[finger]) < _MIN_CURL_CHANGE:
            step = _MIN_CURL_CHANGE if curl_start[finger] < 0.5 else -_MIN_CURL_CHANGE
            curl_end[finger] = curl_start[finger] + step
    return HandMotion(
        centre=centre,
        amps=amps,
        freqs=freqs,
        phases=phases,
        curl_start=curl_start,
        curl_end=curl_end,
        roll_start=float(rng.uniform(-0.9, 0.9)),
        roll_end=float(rng.uniform(-0.9, 0.9)),
    )


def _mirrored_motion(motion: HandMotion, phase_lag: float) -> HandMotion:
    """The other hand doing the mirror image of ``motion`` (symmetric two-handed signs)."""
    return HandMotion(
        centre=motion.centre * np.array([-1.0, 1.0]),
        amps=motion.amps * np.array([-1.0, 1.0]),
        freqs=motion.freqs,
        phases=motion.phases + phase_lag,
        curl_start=motion.curl_start,
        curl_end=motion.curl_end,
        roll_start=motion.roll_start,
        roll_end=motion.roll_end,
    )
