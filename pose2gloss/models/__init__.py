"""The Keras architectures: the Conv1D+Transformer GISLR model and ConvNeXtTiny on landmark "images".

Builders take every parameter by keyword; pick one by name through :mod:`pose2gloss.training.registry`,
which applies the defaults of :mod:`pose2gloss.training.config`.
"""
