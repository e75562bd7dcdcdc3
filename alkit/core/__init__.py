"""The pure core: numpy (with scipy, scikit-learn and, for the label audit, cleanlab) functions
on arrays and small validated containers. Nothing here touches the disk or a model, and nothing
imports from the layers above.

detections (the two box forms), boxes (IoU, matching across models), uncertainty (per box, per
image, per class), selection (the strategies), query (a query and the named queries),
disagreement (query-by-committee), curves (learning-curve math), stopping (rules and the
stopping engine), randomness (``random_state`` and derived seeds), drift (production drift
measures and the change rule), audit (label quality with ObjectLab, through cleanlab).
"""
