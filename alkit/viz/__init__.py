"""Figures (matplotlib) over arrays and results: image grids with boxes, measure histograms,
embedding maps, learning curves, per-class AP, arm comparisons. Imports from the core and the
data edge only, so the loop's reports and the notebook UI can both draw with it.
"""
