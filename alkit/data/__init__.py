"""The I/O edge: dataset yaml and YOLO label files, dataset validation, the sample detection
benchmark, atomic writes and links (files), alkit's home folder, and the offline network guard.
Imports only from :mod:`alkit.core`.
"""
