"""Annotators: how a round gets its labels. :mod:`alkit.annotate.base` is the interface the
loop takes (``request(job)``, ``answer(path) -> Labels | None``); simulated (the benchmark's
hidden labels, with annotation noise), folder (YOLO files dropped into a folder), labelstudio
(a Label Studio server over its HTTP API) and cvat (CVAT by files: a task package out, CVAT's
exports back) implement it; :mod:`alkit.annotate.archive` reads exported archives safely. A
new tool is a new subclass; the loop does not change.
"""
