"""The notebook UI: review states (plain objects that tests drive without a browser) and the
ipywidgets / anywidget views over them (score explorer, review grid, box editor, embedding map).
"""
