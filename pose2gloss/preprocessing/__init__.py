"""The one definition of preprocessing: landmark layout, features, and their streaming transform.

Training, the exported TFLite graph, the server and the UI all take their features from here.
"""
