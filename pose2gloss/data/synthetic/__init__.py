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

The modules, from the vocabulary up to the files:

- ``vocabulary``: the signs' movements and the families of look-alikes (:func:`sign_spec`);
- ``signers``: the participants and their style (:class:`Participant`);
- ``body``: hands, face and pose landmarks in body units, and their image coordinates;
- ``recording``: one sequence of a sign by a signer, with the tracker's mistakes
  (:func:`synthesize_landmarks`);
- ``writer``: the GISLR files (:func:`generate_sample`, :func:`landmarks_table`);
- ``cli`` and ``__main__``: the command line.

Usage::

    python -m pose2gloss.data.synthetic --out data/sample --seed 0
"""

from __future__ import annotations

from pose2gloss.data.synthetic.cli import main
from pose2gloss.data.synthetic.recording import MAX_FRAMES, MIN_FRAMES, synthesize_landmarks
from pose2gloss.data.synthetic.signers import Participant
from pose2gloss.data.synthetic.vocabulary import (
    FAMILY_SIZE,
    N_FAMILIES,
    ORDERS,
    HandMotion,
    SignSpec,
    ordered_time,
    sample_signs,
    sign_family,
    sign_spec,
)
from pose2gloss.data.synthetic.writer import (
    DEFAULT_SIZE,
    LANDMARK_DIR,
    MAX_PARTICIPANTS,
    MAX_SEQUENCES_PER_SIGN,
    generate_sample,
    landmarks_table,
)

__all__ = [
    "DEFAULT_SIZE",
    "FAMILY_SIZE",
    "LANDMARK_DIR",
    "MAX_FRAMES",
    "MAX_PARTICIPANTS",
    "MAX_SEQUENCES_PER_SIGN",
    "MIN_FRAMES",
    "N_FAMILIES",
    "ORDERS",
    "HandMotion",
    "Participant",
    "SignSpec",
    "generate_sample",
    "landmarks_table",
    "main",
    "ordered_time",
    "sample_signs",
    "sign_family",
    "sign_spec",
    "synthesize_landmarks",
]
