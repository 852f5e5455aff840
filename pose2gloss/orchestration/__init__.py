"""The ClearML boundary: tasks, artifacts, datasets, the model registry, HPO and the pipeline controller.

Everything that talks to ClearML lives here (and in the step scripts above it); the rest of the
package imports nothing from this one, so training, evaluation and serving run without ClearML.
"""
