"""GISLR: causal depthwise Conv1D blocks with efficient channel attention, then a Transformer block.

The architecture that won the GISLR competition, at a configurable size: the convolutions
capture local motion, attention relates distant frames, and global pooling makes the
classifier independent of where in the window the sign happens.

Padded frames (all-zero feature rows, see :mod:`pose2gloss.preprocessing.features`) are masked in every
layer that mixes frames: the convolution is causal (a frame sees only earlier ones, and padding
comes after the sign), channel attention and the final pooling average over real frames only,
attention ignores padded keys, and batch normalisation takes its statistics from real frames.
So the prediction does not depend on how much padding follows the sign.
"""

from __future__ import annotations

import keras
from keras import layers


def frame_mask(features):
    """``(batch, frames)`` bool: frames that are not padding (a padded frame is all zero)."""
    return keras.ops.any(keras.ops.not_equal(features, 0.0), axis=-1)


def _masked_mean(inputs, mask):
    weights = keras.ops.cast(mask, inputs.dtype)[:, :, None]
    return keras.ops.sum(inputs * weights, axis=1) / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="pose2gloss")
class ECA(layers.Layer):
    """Efficient channel attention: a 1D convolution over the channels' means (real frames only) gates each channel."""

    def __init__(self, kernel_size: int = 5, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.conv = layers.Conv1D(1, kernel_size, padding="same", use_bias=False)

    def call(self, inputs, mask=None):  # type: ignore[override]
        pooled = keras.ops.mean(inputs, axis=1) if mask is None else _masked_mean(inputs, mask)
        gate = keras.activations.sigmoid(self.conv(pooled[:, :, None]))[:, None, :, 0]
        return inputs * gate

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="pose2gloss")
class MaskedPooling(layers.Layer):
    """Mean over the real frames: ``(batch, frames, channels)`` -> ``(batch, channels)``."""

    def call(self, inputs, mask=None):  # type: ignore[override]
        return keras.ops.mean(inputs, axis=1) if mask is None else _masked_mean(inputs, mask)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="pose2gloss")
class ZeroPadding(layers.Layer):
    """Sets padded frames to zero, so they stay inert whatever a per-frame layer added to them."""

    def call(self, inputs, mask=None):  # type: ignore[override]
        return inputs if mask is None else inputs * keras.ops.cast(mask, inputs.dtype)[:, :, None]

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="pose2gloss")
class LateDropout(layers.Layer):
    """Dropout that is off until :attr:`active` is set (by the training loop, from a start epoch on).

    Strong dropout from the first epoch slows early learning; switched on later it regularises
    a model that already fits.
    """

    def __init__(self, rate: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.dropout = layers.Dropout(rate)
        self.active = self.add_weight(shape=(), initializer="zeros", trainable=False, name="active")

    def call(self, inputs, training=None):  # type: ignore[override]
        if not training or self.rate <= 0:
            return inputs
        return keras.ops.where(self.active > 0, self.dropout(inputs, training=True), inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


def _drop_path(x, rate: float):
    """Stochastic depth: drop a residual branch for a whole sample."""
    return layers.Dropout(rate, noise_shape=(None, 1, 1))(x) if rate > 0 else x


def conv_block(x, mask, dim: int, kernel_size: int, dropout: float, drop_path: float = 0.0, expand: int = 2):
    """Expand, causal depthwise temporal conv, masked BN and ECA, project back; residual."""
    skip = x
    x = layers.Dense(dim * expand, activation="swish")(x)
    x = ZeroPadding()(x, mask=mask)
    x = layers.ZeroPadding1D((kernel_size - 1, 0))(x)  # causal: a frame sees itself and earlier frames
    x = layers.DepthwiseConv1D(kernel_size, padding="valid", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.95)(x, mask=mask)
    x = ECA()(x, mask=mask)
    x = layers.Dense(dim)(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Add()([skip, _drop_path(x, drop_path)])
    return ZeroPadding()(x, mask=mask)


def transformer_block(x, mask, dim: int, heads: int, dropout: float, drop_path: float = 0.0, expand: int = 2):
    skip = x
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    attend = keras.ops.logical_and(mask[:, :, None], mask[:, None, :])
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads, dropout=dropout)(x, x, attention_mask=attend)
    x = layers.Add()([skip, _drop_path(layers.Dropout(dropout)(x), drop_path)])
    skip = x
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Dense(dim * expand, activation="swish")(x)
    x = layers.Dense(dim)(x)
    x = layers.Add()([skip, _drop_path(layers.Dropout(dropout)(x), drop_path)])
    return ZeroPadding()(x, mask=mask)


def build_gislr(
    input_shape: tuple[int, int],
    num_classes: int,
    *,
    dim: int,
    kernel_size: int,
    num_blocks: int,
    heads: int,
    conv1d_dropout: float,
    last_dropout: float,
    drop_path: float,
    late_dropout: float,
) -> keras.Model:
    """Build the model on preprocessed inputs ``(max_len, features)``; outputs class probabilities.

    ``late_dropout`` is a :class:`LateDropout` before the classifier, off until training switches it on.
    """
    inputs = keras.Input(input_shape, name="features")
    mask = frame_mask(inputs)
    x = layers.Dense(dim, use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.95)(x, mask=mask)
    x = ZeroPadding()(x, mask=mask)
    for _ in range(num_blocks):
        for _ in range(3):
            x = conv_block(x, mask, dim, kernel_size, conv1d_dropout, drop_path)
        x = transformer_block(x, mask, dim, heads, conv1d_dropout, drop_path)
    x = layers.Dense(dim * 2, activation="swish")(x)
    x = MaskedPooling()(x, mask=mask)
    x = layers.Dropout(last_dropout)(x)
    x = LateDropout(late_dropout, name="late_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="outputs")(x)
    return keras.Model(inputs, outputs, name="GISLR")
