"""The model adapter: :mod:`alkit.model.yolo` is the one module that imports ultralytics (and
makes it safe offline); scoring runs a model over a pool once per image and caches it; the
recipe says how every round trains; committee trains query-by-committee members.
"""
