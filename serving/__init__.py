"""The pose2gloss HTTP server (FastAPI + LiteRT); the app is ``serving.pose2gloss:app``."""
