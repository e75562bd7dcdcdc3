"""The I/O edge: dataset yaml and YOLO label files, dataset validation, the sample detection
benchmark, atomic writes and links (files), alkit's home folder, the offline network guard, and
production batches with the simulated production stream.
Imports only from :mod:`alkit.core`.
"""
