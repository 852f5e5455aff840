"""ConvNeXtTiny on the landmark sequence laid out as an image (time x landmarks x channels).

The second branch of the model search: an ImageNet architecture from ``keras.applications``
trained from scratch (``weights=None``, nothing downloaded). Rows are time, columns the 89
model landmarks, channels each landmark's position and motion. Only the time axis is resized
(to ``image_size`` rows); the landmark axis is kept whole, since interpolating between
neighbouring columns would blend unrelated landmarks (a lip point into a thumb).
"""

from __future__ import annotations

import keras
from keras import layers

from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS


def build_convnext_tiny(
    input_shape: tuple[int, int],
    num_classes: int,
    *,
    image_size: int,
    last_dropout: float,
) -> keras.Model:
    """Build the model on preprocessed inputs ``(max_len, features)``; outputs class probabilities."""
    max_len, n_features = input_shape
    if n_features % N_MODEL_LANDMARKS:
        raise ValueError(f"features ({n_features}) must be a multiple of the {N_MODEL_LANDMARKS} landmarks")
    channels = n_features // N_MODEL_LANDMARKS
    inputs = keras.Input(input_shape, name="features")
    # Features are laid out (x,y per landmark) then (dx,dy per landmark): regroup per landmark.
    x = layers.Reshape((max_len, channels // 2, N_MODEL_LANDMARKS, 2))(inputs)
    x = layers.Permute((1, 3, 2, 4))(x)
    x = layers.Reshape((max_len, N_MODEL_LANDMARKS, channels))(x)
    x = layers.Resizing(image_size, N_MODEL_LANDMARKS)(x)
    x = layers.Conv2D(3, 1, name="to_rgb")(x)
    backbone = keras.applications.ConvNeXtTiny(
        include_top=False,
        weights=None,
        input_shape=(image_size, N_MODEL_LANDMARKS, 3),
        pooling="avg",
        include_preprocessing=False,
    )
    x = backbone(x)
    x = layers.Dropout(last_dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="outputs")(x)
    return keras.Model(inputs, outputs, name="ConvNeXtTiny")
