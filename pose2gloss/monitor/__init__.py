"""Monitoring the served model's inputs against the data it was trained on.

``profile``: what a sequence looks like to a camera (length, missing parts, hand placement,
framing) and the reference profile of a training set, built in one streaming pass. ``drift``:
PSI of a window of request profiles against that reference. ``report``: the offline HTML
report (``python -m pose2gloss.monitor report --requests LOG --out report.html``).
"""
