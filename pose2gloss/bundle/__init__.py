"""The deployable model bundle: its files and card, the TFLite export that writes it, and the runtime that runs it."""
