"""GISLR: depthwise Conv1D blocks with efficient channel attention, then a Transformer block.

A small version of the architecture that won the GISLR competition: the convolutions
capture local motion, attention relates distant frames, and global pooling makes the
classifier independent of where in the padded window the sign happens.
"""

from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="pose2gloss")
class ECA(layers.Layer):
    """Efficient channel attention: a 1D convolution over pooled channels gates each channel."""

    def __init__(self, kernel_size: int = 5, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.conv = layers.Conv1D(1, kernel_size, padding="same", use_bias=False)

    def call(self, inputs):  # type: ignore[override]
        pooled = keras.ops.mean(inputs, axis=1)[:, :, None]  # (batch, channels, 1)
        gate = keras.activations.sigmoid(self.conv(pooled))[:, None, :, 0]
        return inputs * gate

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size}


def conv_block(x, dim: int, kernel_size: int, dropout: float, expand: int = 2):
    """Expand, depthwise temporal conv, ECA, project back; residual."""
    skip = x
    x = layers.Dense(dim * expand, activation="swish")(x)
    x = layers.DepthwiseConv1D(kernel_size, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.95)(x)
    x = ECA()(x)
    x = layers.Dense(dim)(x)
    x = layers.Dropout(dropout)(x)
    return layers.Add()([skip, x])


def transformer_block(x, dim: int, heads: int, dropout: float, expand: int = 2):
    skip = x
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads, dropout=dropout)(x, x)
    x = layers.Add()([skip, layers.Dropout(dropout)(x)])
    skip = x
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Dense(dim * expand, activation="swish")(x)
    x = layers.Dense(dim)(x)
    return layers.Add()([skip, layers.Dropout(dropout)(x)])


def build_gislr(
    input_shape: tuple[int, int],
    num_classes: int,
    *,
    dim: int = 128,
    kernel_size: int = 17,
    num_blocks: int = 2,
    heads: int = 4,
    conv1d_dropout: float = 0.2,
    last_dropout: float = 0.2,
) -> keras.Model:
    """Build the model on preprocessed inputs ``(max_len, features)``; outputs class probabilities."""
    inputs = keras.Input(input_shape, name="features")
    x = layers.Dense(dim, use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.95)(x)
    for _ in range(num_blocks):
        for _ in range(3):
            x = conv_block(x, dim, kernel_size, conv1d_dropout)
        x = transformer_block(x, dim, heads, conv1d_dropout)
    x = layers.Dense(dim * 2, activation="swish")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(last_dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="outputs")(x)
    return keras.Model(inputs, outputs, name="GISLR")
