"""A deterministic synthetic sample in the exact layout of the Kaggle GISLR data, hard in its ways.

The real data cannot ship with the repository, yet the pipeline, the tests and the demos need
something that looks like it: ``train.csv``, one parquet file of MediaPipe Holistic landmarks per
sequence and ``sign_to_prediction_index_map.json``. Each sign is a class-specific movement of the
hands (wrist trajectory, handshape, optional second hand and mouth opening). What makes the real
data hard is built in, so that a model's accuracy, the model selection and the hyperparameter
search have something to decide:

- order in time: signs come in families of three that make the very same movements (path,
  handshape change, second hand, mouth) and differ only in their order: forward, reversed (the
  path run backwards, the handshape changing the other way) or there and back again. Every
  member visits the same positions with the same handshapes equally often, so statistics of
  the frames that ignore their order (means, spreads) cannot tell the members apart; only a
  model of the order can, as with real signs that differ in the direction of a path or in
  which handshape comes first;
- participant style: signers differ in size, position, speed, amplitude, the laxness of their
  handshapes, their personal rhythm, and some are left-handed (they sign the mirror image);
- tracking: per-frame jitter, bursts of frames where the tracker loses a hand (and rarely the
  face), and occasional glitches where a hand jumps;
- length: most sequences hold a few dozen frames, some only a handful (a clipped sign), some are
  long (idle frames before and after the sign, hands out of view).

The meaning of a sign (its movement) depends only on its label id, not on ``seed``: samples drawn
with different seeds are different recordings of the same vocabulary.

Usage::

    python -m pose2gloss.data.synthetic --out data/sample --seed 0
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pose2gloss.data.gislr import INDEX_COLUMNS, INDEX_FILE, SIGN_MAP_FILE
from pose2gloss.data.signs import GISLR_SIGNS
from pose2gloss.preprocessing.landmarks import (
    LANDMARK_TYPES,
    LIPS_FACE_INDICES,
    N_LANDMARKS,
    TYPE_OFFSETS,
    TYPE_SIZES,
    mirror_permutation,
)

LANDMARK_DIR: Final[str] = "train_landmark_files"

MAX_PARTICIPANTS: Final[int] = 1000
MAX_SEQUENCES_PER_SIGN: Final[int] = 1000
MIN_FRAMES: Final[int] = 4
MAX_FRAMES: Final[int] = 220
# Signs 3k, 3k+1 and 3k+2 of the vocabulary form a family of look-alikes (the last one takes four).
FAMILY_SIZE: Final[int] = 3
N_FAMILIES: Final[int] = len(GISLR_SIGNS) // FAMILY_SIZE
# The default sample (with seed 0), which `python -m pose2gloss.data.synthetic` and the pipeline
# generate: enough signs and participants to learn from, small enough for a laptop run.
DEFAULT_SIZE: Final[dict[str, int]] = {"n_signs": 20, "n_participants": 6, "sequences_per_sign": 4}

# Salts that keep the random streams for different purposes independent of each other.
_SIGN_SALT: Final[int] = 7_310_251
_FACE_SALT: Final[int] = 468
_IDS_STREAM: Final[int] = 0
_PARTICIPANT_STREAM: Final[int] = 1
_SEQUENCE_STREAM: Final[int] = 2

_BASE_FRAMES: Final[float] = 32.0
_N_WAVES: Final[int] = 2
_NOISE_BODY_UNITS: Final[float] = 0.008
# How each member of a family orders the family's movement in time (the fourth is for the last,
# larger family). "there_and_back" runs the movement out and back at the same pace, so it lasts
# twice as long and visits every position twice.
ORDERS: Final[tuple[str, ...]] = ("forward", "reverse", "there_and_back", "back_and_there")
# A family's handshape change: at least this many fingers open or close by at least _MIN_CURL_CHANGE.
_CHANGING_FINGERS: Final[int] = 2
_MIN_CURL_CHANGE: Final[float] = 0.5
# Every fifth participant (the third, the eighth, ...) signs with the left hand.
_LEFT_HANDED_EVERY: Final[int] = 5
_LEFT_HANDED_FIRST: Final[int] = 2
# Shares of recordings that are a clipped part of the sign, or padded with idle frames.
_CLIPPED_SHARE: Final[float] = 0.08
_IDLE_SHARE: Final[float] = 0.25
_FACE_DROPOUT: Final[float] = 0.01
_GLITCH_RATE: Final[float] = 0.02

# Body geometry in "body units": origin between the shoulders, shoulder width 1, y pointing down,
# the person's right side at negative x (a camera facing the signer).
_HEAD_CENTRE: Final[tuple[float, float]] = (0.0, -0.68)
_FACE_SEMI_AXES: Final[tuple[float, float]] = (0.22, 0.3)
_MOUTH_BELOW_HEAD: Final[float] = 0.17
_RIGHT_SHOULDER: Final[tuple[float, float]] = (-0.5, 0.0)
_LEFT_SHOULDER: Final[tuple[float, float]] = (0.5, 0.0)
_REST_WRIST_LEFT: Final[tuple[float, float]] = (0.5, 1.25)
_REST_WRIST_RIGHT: Final[tuple[float, float]] = (-0.5, 1.25)
_ARM_SEGMENT: Final[float] = 0.72

# Hand model (right hand, angles in degrees from "fingers up", positive towards +x):
# thumb, index, middle, ring, pinky.
_HAND_SCALE: Final[float] = 1.2
_FINGER_BASE_ANGLE: Final[np.ndarray] = np.radians([40.0, 10.0, 0.0, -9.0, -18.0])
_FINGER_BASE_LEN: Final[np.ndarray] = np.array([0.07, 0.19, 0.19, 0.18, 0.17])
_FINGER_DIR_ANGLE: Final[np.ndarray] = np.radians([55.0, 12.0, 0.0, -10.0, -22.0])
_FINGER_SEG_LEN: Final[np.ndarray] = np.array(
    [[0.08, 0.06, 0.05], [0.09, 0.055, 0.045], [0.10, 0.065, 0.05], [0.09, 0.06, 0.045], [0.07, 0.045, 0.04]]
)
_MAX_JOINT_BEND: Final[float] = np.radians(75.0)
_THUMB_SWEEP: Final[float] = np.radians(40.0)

# Parquet encodings that shrink the files by ~40% versus plain snappy; pyarrow and pandas read them.
_COLUMN_ENCODING: Final[dict[str, str]] = {
    "row_id": "DELTA_BYTE_ARRAY",
    "x": "BYTE_STREAM_SPLIT",
    "y": "BYTE_STREAM_SPLIT",
    "z": "BYTE_STREAM_SPLIT",
}


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


def generate_sample(
    out_dir: Path | str,
    *,
    n_signs: int = DEFAULT_SIZE["n_signs"],
    n_participants: int = DEFAULT_SIZE["n_participants"],
    sequences_per_sign: int = DEFAULT_SIZE["sequences_per_sign"],
    seed: int = 0,
) -> Path:
    """Write a GISLR-layout sample of ``n_signs * n_participants * sequences_per_sign`` sequences.

    Existing files of the same names are overwritten; other files in ``out_dir`` are left alone.
    Returns ``out_dir`` (the directory that holds ``train.csv``).
    """
    signs = sample_signs(n_signs)
    _check_int("n_participants", n_participants, 1, MAX_PARTICIPANTS)
    _check_int("sequences_per_sign", sequences_per_sign, 1, MAX_SEQUENCES_PER_SIGN)
    _check_int("seed", seed, 0, 2**63 - 1)
    out = Path(out_dir)
    id_rng = np.random.default_rng([seed, _IDS_STREAM])
    participant_ids = _unique_ints(id_rng, n_participants, 10_000, 99_999)
    sequence_ids = _unique_ints(id_rng, n_signs * n_participants * sequences_per_sign, 10**9, 2**32 - 1)
    participants = [_random_participant(seed, i, pid) for i, pid in enumerate(participant_ids)]
    rows: list[tuple[str, int, int, str]] = []
    ids = iter(sequence_ids)
    for p_idx, participant in enumerate(participants):
        (out / LANDMARK_DIR / str(participant.participant_id)).mkdir(parents=True, exist_ok=True)
        for sign in signs:
            spec = sign_spec(GISLR_SIGNS.index(sign))
            for rep in range(sequences_per_sign):
                sequence_id = next(ids)
                rng = np.random.default_rng([seed, _SEQUENCE_STREAM, p_idx, spec.label, rep])
                rel_path = f"{LANDMARK_DIR}/{participant.participant_id}/{sequence_id}.parquet"
                _write_sequence(out / rel_path, spec, participant, rng)
                rows.append((rel_path, participant.participant_id, sequence_id, sign))
    _write_train_csv(out / INDEX_FILE, rows)
    _write_sign_map(out / SIGN_MAP_FILE)
    return out


def synthesize_landmarks(spec: SignSpec, participant: Participant, rng: np.random.Generator) -> np.ndarray:
    """One recording of ``spec`` by ``participant``: float32 (frames, 543, 3), NaN where untracked."""
    u, signing = _timeline(participant, rng, 2.0 if spec.order in ORDERS[2:] else 1.0)
    u = ordered_time(u, spec.order)
    n_frames = len(u)
    amp = participant.reach * rng.uniform(0.88, 1.12)
    shift = participant.space_shift + rng.normal(0.0, 0.03, size=2)
    right_wrist = _at_rest(_wrist_path(spec.right, u, amp, shift), signing, _REST_WRIST_RIGHT)
    right = _hand_points(right_wrist, _curl(spec.right, u, participant), _roll(spec.right, u), mirror=False)
    if spec.left is None:
        left_wrist = np.broadcast_to(np.asarray(_REST_WRIST_LEFT), (n_frames, 2))
        left = _hand_points(left_wrist, np.full((n_frames, 5), 0.3), np.zeros(n_frames), mirror=True)
    else:
        left_wrist = _wrist_path(spec.left, u, amp, shift * np.array([-1.0, 1.0]))
        left_wrist = _at_rest(left_wrist, signing, _REST_WRIST_LEFT)
        left = _hand_points(left_wrist, _curl(spec.left, u, participant), _roll(spec.left, u), mirror=True)
    for hand in (left, right):
        hand += rng.normal(0.0, participant.jitter, size=hand.shape)
        glitch = rng.random(n_frames) < _GLITCH_RATE
        hand[glitch] += rng.normal(0.0, 0.25, size=(int(glitch.sum()), 1, 3)) * np.array([1.0, 1.0, 0.0])
    head = _head_offset(n_frames, rng)
    mouth = spec.mouth_amp * 0.5 * (1.0 - np.cos(2 * np.pi * spec.mouth_freq * u))
    face = _face_points(mouth, participant) + head[:, None, :]
    pose = _pose_points(right, left, head, participant)
    body = np.concatenate([face, left, pose, right], axis=1)
    body += rng.normal(0.0, _NOISE_BODY_UNITS, size=body.shape)
    dominant, other = "right_hand", "left_hand"
    if participant.left_handed:
        body = body[:, mirror_permutation()]
        body[..., 0] *= -1.0
        dominant, other = other, dominant
    coords = _to_image(body, participant)
    coords[~signing, _type_slice("left_hand")] = np.nan
    coords[~signing, _type_slice("right_hand")] = np.nan
    _drop_hand_frames(coords, dominant, participant.dropout, rng, keep=signing)
    if spec.left is None:
        coords[:, _type_slice(other)] = np.nan
    else:
        _drop_hand_frames(coords, other, participant.dropout, rng)
    lost_face = rng.random(n_frames) < _FACE_DROPOUT
    coords[lost_face, _type_slice("face")] = np.nan
    return coords.astype(np.float32)


def landmarks_table(coords: np.ndarray, first_frame: int) -> pa.Table:
    """The GISLR parquet table of ``coords`` (frames, 543, 3) with frames numbered from ``first_frame``."""
    n_frames = coords.shape[0]
    frame = np.repeat(np.arange(first_frame, first_frame + n_frames, dtype=np.int16), N_LANDMARKS)
    per_frame = pa.array(np.tile(np.arange(N_LANDMARKS, dtype=np.int32), n_frames))
    types, indices, suffixes = _landmark_columns()
    frame_arr = pa.array(frame, type=pa.int16())
    row_id = pc.binary_join_element_wise(pc.cast(frame_arr, pa.string()), pc.take(suffixes, per_frame), "")
    flat = coords.reshape(-1, 3)
    return pa.table(
        {
            "frame": frame_arr,
            "row_id": row_id,
            "type": pc.take(types, per_frame),
            "landmark_index": pa.array(np.tile(indices, n_frames), type=pa.int16()),
            "x": pa.array(flat[:, 0], type=pa.float32()),
            "y": pa.array(flat[:, 1], type=pa.float32()),
            "z": pa.array(flat[:, 2], type=pa.float32()),
        }
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the sample and print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output directory")
    parser.add_argument("--signs", type=int, default=DEFAULT_SIZE["n_signs"], help="number of signs (1..250)")
    parser.add_argument(
        "--participants", type=int, default=DEFAULT_SIZE["n_participants"], help="number of participants"
    )
    parser.add_argument(
        "--sequences-per-sign",
        type=int,
        default=DEFAULT_SIZE["sequences_per_sign"],
        help="sequences per sign and participant",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    args = parser.parse_args(argv)
    try:
        out = generate_sample(
            args.out,
            n_signs=args.signs,
            n_participants=args.participants,
            sequences_per_sign=args.sequences_per_sign,
            seed=args.seed,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n_sequences = args.signs * args.participants * args.sequences_per_sign
    print(f"wrote {n_sequences} sequences of {args.signs} signs by {args.participants} participants to {out}")
    return 0


def _check_int(name: str, value: object, low: int, high: int) -> None:
    """Reject non-integers and out-of-range values early, with a message naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    """``n`` distinct random integers in [low, high], like the ids of the real data."""
    return [int(v) for v in rng.choice(high - low + 1, size=n, replace=False) + low]


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


def _timeline(
    participant: Participant, rng: np.random.Generator, duration: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised sign time per frame, and which frames show the sign (the rest are idle).

    Slower participants and hesitation give longer signs (``duration`` multiplies the length); some
    recordings catch only part of the sign in a handful of frames, others hold idle frames before
    and after it.
    """
    n_sign = round(duration * _BASE_FRAMES / participant.speed * rng.uniform(0.75, 1.3))
    start, end = rng.uniform(0.0, 0.05), rng.uniform(0.95, 1.0)
    kind = rng.random()
    if kind < _CLIPPED_SHARE:
        n_sign = int(rng.integers(MIN_FRAMES, 13))
        start = rng.uniform(0.0, 0.4)
        end = start + rng.uniform(0.4, 0.6)
    u = np.linspace(start, end, max(n_sign, MIN_FRAMES))
    u = u + np.clip(participant.rhythm + rng.uniform(-0.2, 0.2), -0.9, 0.9) * (u - start) * (end - u)
    before = after = 0
    if _CLIPPED_SHARE <= kind < _CLIPPED_SHARE + _IDLE_SHARE:
        before, after = (int(v) for v in rng.integers(4, 40, size=2))
    signing = np.concatenate([np.zeros(before, bool), np.ones(len(u), bool), np.zeros(after, bool)])
    u = np.concatenate([np.full(before, u[0]), u, np.full(after, u[-1])])
    return u[:MAX_FRAMES], signing[:MAX_FRAMES]


def _at_rest(wrist: np.ndarray, signing: np.ndarray, rest: tuple[float, float]) -> np.ndarray:
    """Wrist positions with the idle frames at the rest position (hands down, out of view)."""
    return np.where(signing[:, None], wrist, np.asarray(rest))


def _smoothstep(u: np.ndarray) -> np.ndarray:
    """Ease-in/ease-out interpolation weight, so handshapes change gradually."""
    t = np.clip(u, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _wrist_path(motion: HandMotion, u: np.ndarray, amp: float, shift: np.ndarray) -> np.ndarray:
    """Wrist positions (frames, 2) in body units."""
    angles = 2 * np.pi * motion.freqs[None, :, None] * u[:, None, None] + motion.phases[None]
    return motion.centre + shift + amp * np.sum(motion.amps[None] * np.sin(angles), axis=1)


def _curl(motion: HandMotion, u: np.ndarray, participant: Participant) -> np.ndarray:
    """Finger curl (frames, 5) morphing from the start to the end handshape, as lax as the signer."""
    w = _smoothstep(u)[:, None]
    curl = (1.0 - w) * motion.curl_start + w * motion.curl_end
    return (1.0 - participant.laxness) * curl + participant.laxness * 0.5


def _roll(motion: HandMotion, u: np.ndarray) -> np.ndarray:
    """In-plane hand rotation (frames,) morphing from start to end."""
    w = _smoothstep(u)
    return (1.0 - w) * motion.roll_start + w * motion.roll_end


def _hand_points(wrist: np.ndarray, curl: np.ndarray, roll: np.ndarray, *, mirror: bool) -> np.ndarray:
    """The 21 MediaPipe hand landmarks (frames, 21, 3) in body units.

    Curling a finger bends its joints towards the camera, which shortens its 2D projection.
    """
    n_frames = wrist.shape[0]
    bend = curl[:, :, None] * _MAX_JOINT_BEND * np.arange(1, 4)  # (T, 5, 3) cumulative joint bend
    direction = np.broadcast_to(_FINGER_DIR_ANGLE, (n_frames, 5)).copy()
    direction[:, 0] -= curl[:, 0] * _THUMB_SWEEP
    dir_xy = np.stack([np.sin(direction), -np.cos(direction)], axis=-1)  # (T, 5, 2), "up" is -y
    seg_xy = _FINGER_SEG_LEN[None, :, :, None] * np.cos(bend)[..., None] * dir_xy[:, :, None, :]
    seg_z = -_FINGER_SEG_LEN[None] * np.sin(bend)
    base = _FINGER_BASE_LEN[:, None] * np.stack([np.sin(_FINGER_BASE_ANGLE), -np.cos(_FINGER_BASE_ANGLE)], -1)
    joints_xy = base[None, :, None, :] + np.cumsum(seg_xy, axis=2)  # (T, 5, 3, 2)
    knuckles = np.concatenate([np.broadcast_to(base, (n_frames, 5, 2)), np.zeros((n_frames, 5, 1))], -1)
    joints = np.concatenate([joints_xy, np.cumsum(seg_z, axis=2)[..., None]], axis=-1)
    fingers = np.concatenate([knuckles[:, :, None, :], joints], axis=2).reshape(n_frames, 20, 3)
    points = _HAND_SCALE * np.concatenate([np.zeros((n_frames, 1, 3)), fingers], axis=1)
    if mirror:
        points[..., 0] *= -1.0
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x, y = points[..., 0].copy(), points[..., 1].copy()
    points[..., 0] = cos * x - sin * y + wrist[:, None, 0]
    points[..., 1] = sin * x + cos * y + wrist[:, None, 1]
    return points


@lru_cache(maxsize=1)
def _face_template() -> np.ndarray:
    """A fixed 468-point face (jittered oval, nose bump in z) with a mouth at the lip indices."""
    rng = np.random.default_rng(_FACE_SALT)
    n_face = TYPE_SIZES["face"]
    radius = np.sqrt(rng.uniform(0.0, 1.0, n_face))
    angle = rng.uniform(0.0, 2 * np.pi, n_face)
    a, b = _FACE_SEMI_AXES
    face = np.zeros((n_face, 3))
    face[:, 0] = _HEAD_CENTRE[0] + a * radius * np.cos(angle)
    face[:, 1] = _HEAD_CENTRE[1] + b * radius * np.sin(angle)
    face[:, 2] = -0.08 * (1.0 - radius**2)
    face[list(LIPS_FACE_INDICES)] = _lips()
    return face


def _lips() -> np.ndarray:
    """The 40 lip points in LIPS_FACE_INDICES order: outer ring (corner, upper, corner, lower), then inner."""
    upper = np.linspace(np.pi, 0.0, 11)[1:-1]
    lower = np.linspace(np.pi, 2 * np.pi, 11)[1:-1]
    outer_angles = np.concatenate([[np.pi], upper, [0.0], lower])
    inner_angles = np.concatenate([[np.pi], upper, lower, [0.0]])
    outer = np.stack([0.08 * np.cos(outer_angles), -0.03 * np.sin(outer_angles)], -1)
    inner = np.stack([0.06 * np.cos(inner_angles), -0.012 * np.sin(inner_angles)], -1)
    xy = np.concatenate([outer, inner]) + np.array([_HEAD_CENTRE[0], _HEAD_CENTRE[1] + _MOUTH_BELOW_HEAD])
    return np.concatenate([xy, np.full((40, 1), -0.07)], axis=1)


def _lower_lip_mask() -> np.ndarray:
    """Which of the 40 lip points belong to the lower lip (they move when the mouth opens)."""
    mask = np.zeros(40, dtype=bool)
    mask[11:20] = True
    mask[30:39] = True
    return mask


def _face_points(mouth_open: np.ndarray, participant: Participant) -> np.ndarray:
    """Face landmarks (frames, 468, 3) in body units, with the lower lip dropping as the mouth opens."""
    template = _face_template()
    centre = np.array([_HEAD_CENTRE[0], _HEAD_CENTRE[1] * participant.neck, 0.0])
    scaled = centre + participant.face_size * (template - np.array([*_HEAD_CENTRE, 0.0]))
    face = np.repeat(scaled[None], mouth_open.shape[0], axis=0)
    lower = np.asarray(LIPS_FACE_INDICES)[_lower_lip_mask()]
    face[:, lower, 1] += 0.06 * participant.face_size * mouth_open[:, None]
    return face


def _head_offset(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A small slow head sway (frames, 3) so the face is not perfectly still."""
    t = np.linspace(0.0, 1.0, n_frames)[:, None]
    sway = rng.uniform(-0.03, 0.03, size=2) * np.sin(2 * np.pi * t * rng.uniform(0.3, 1.0) + rng.uniform(0, 6.3))
    return np.concatenate([sway, np.zeros((n_frames, 1))], axis=1)


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, outward: float) -> np.ndarray:
    """Elbow (frames, 2) of a two-segment arm: the more the arm is folded, the further it hangs out and down.

    In 3D the elbow lies on a circle around the shoulder-wrist line; its image projection can be
    anywhere inside that circle, and a relaxed arm lets it drop down and slightly outwards.
    """
    length = np.linalg.norm(wrist - shoulder, axis=1, keepdims=True)
    drop = np.sqrt(np.maximum(_ARM_SEGMENT**2 - (length / 2) ** 2, 0.0))
    direction = np.array([0.4 * outward, 1.0]) / np.hypot(0.4, 1.0)
    return (shoulder + wrist) / 2 + drop * direction


def _pose_points(right: np.ndarray, left: np.ndarray, head: np.ndarray, participant: Participant) -> np.ndarray:
    """The 33 pose landmarks (frames, 33, 3) in body units; arms follow the hands, legs stay put."""
    n_frames = right.shape[0]
    y = _HEAD_CENTRE[1] * participant.neck
    mouth = y + _MOUTH_BELOW_HEAD * participant.face_size
    head_xy = {
        0: (0.0, y + 0.05), 1: (0.06, y - 0.08), 2: (0.1, y - 0.08), 3: (0.14, y - 0.08), 4: (-0.06, y - 0.08),
        5: (-0.1, y - 0.08), 6: (-0.14, y - 0.08), 7: (0.27, y - 0.02), 8: (-0.27, y - 0.02),
        9: (0.07, mouth), 10: (-0.07, mouth),
    }  # fmt: skip
    still_xy = {
        11: _LEFT_SHOULDER, 12: _RIGHT_SHOULDER, 23: (0.35, 1.5), 24: (-0.35, 1.5), 25: (0.35, 2.4),
        26: (-0.35, 2.4), 27: (0.35, 3.2), 28: (-0.35, 3.2), 29: (0.38, 3.3), 30: (-0.38, 3.3),
        31: (0.3, 3.4), 32: (-0.3, 3.4),
    }  # fmt: skip
    pose = np.zeros((n_frames, TYPE_SIZES["pose"], 3))
    for index, xy in head_xy.items():
        pose[:, index, :2] = xy
        pose[:, index] += head
    for index, xy in still_xy.items():
        pose[:, index, :2] = xy
    pose[:, 13, :2] = _elbow(np.asarray(_LEFT_SHOULDER), left[:, 0, :2], outward=1.0)
    pose[:, 14, :2] = _elbow(np.asarray(_RIGHT_SHOULDER), right[:, 0, :2], outward=-1.0)
    # Wrist, pinky, index and thumb of the pose model follow the hand landmarks (left, right pairs).
    for pose_left, pose_right, hand_index in ((15, 16, 0), (17, 18, 17), (19, 20, 5), (21, 22, 2)):
        pose[:, pose_left] = left[:, hand_index]
        pose[:, pose_right] = right[:, hand_index]
    return pose


def _to_image(body: np.ndarray, participant: Participant) -> np.ndarray:
    """Map body units to MediaPipe image coordinates (x right, y down, roughly [0, 1])."""
    coords = body * participant.scale
    coords[..., :2] += participant.origin
    return coords


def _type_slice(landmark_type: str) -> slice:
    """The landmark rows of one type within a frame."""
    start = TYPE_OFFSETS[landmark_type]
    return slice(start, start + TYPE_SIZES[landmark_type])


def _drop_hand_frames(
    coords: np.ndarray,
    landmark_type: str,
    rate: float,
    rng: np.random.Generator,
    keep: np.ndarray | None = None,
) -> None:
    """Blank bursts of 1-8 frames of a hand, as when the tracker loses it for a moment.

    With ``keep``, one of those frames stays visible whatever the bursts, so the sign is seen.
    """
    n_frames = coords.shape[0]
    missing = np.zeros(n_frames, dtype=bool)
    for start in np.flatnonzero(rng.random(n_frames) < rate):
        missing[start : start + int(rng.integers(1, 9))] = True
    if keep is not None and keep.any():
        missing[rng.choice(np.flatnonzero(keep))] = False
    coords[missing, _type_slice(landmark_type)] = np.nan


@lru_cache(maxsize=1)
def _landmark_columns() -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Per-landmark type names, in-type indices and row_id suffixes of one frame (543 each)."""
    types = [t for t in LANDMARK_TYPES for _ in range(TYPE_SIZES[t])]
    indices = np.concatenate([np.arange(TYPE_SIZES[t]) for t in LANDMARK_TYPES]).astype(np.int16)
    suffixes = [f"-{t}-{i}" for t, i in zip(types, indices.tolist(), strict=True)]
    return pa.array(types, type=pa.string()), indices, pa.array(suffixes, type=pa.string())


def _write_sequence(path: Path, spec: SignSpec, participant: Participant, rng: np.random.Generator) -> None:
    """Synthesize one recording and write it as a GISLR parquet file (frames start at an offset)."""
    coords = synthesize_landmarks(spec, participant, rng)
    first_frame = int(rng.integers(10, 201))
    pq.write_table(
        landmarks_table(coords, first_frame),
        path,
        compression="zstd",
        version="2.6",
        use_dictionary=["type"],
        column_encoding=_COLUMN_ENCODING,
        write_statistics=True,
    )


def _write_train_csv(path: Path, rows: list[tuple[str, int, int, str]]) -> None:
    """The index of all sequences, sorted by sequence id like the real ``train.csv``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(sorted(rows, key=lambda row: row[2]))


def _write_sign_map(path: Path) -> None:
    """The full 250-sign vocabulary, so models trained on the sample have the real output size."""
    mapping = {sign: index for index, sign in enumerate(GISLR_SIGNS)}
    path.write_text(json.dumps(mapping), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
