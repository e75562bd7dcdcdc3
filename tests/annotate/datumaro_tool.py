"""Datumaro (CVAT's own format library) as a separate process, for the CVAT tests.

Run with the Python of the Datumaro environment (its pins clash with ultralytics), never
imported by alkit. One argument, a JSON file:

* ``{"write": DIR, "names": [...], "formats": ["cvat", "yolo", "yolo_ultralytics"], "items":
  [{"id": STEM, "subset": "train", "image": PATH, "boxes": [[class_id, x, y, w, h], ...]}]}``
  exports those items (boxes in pixels, top-left corner and size) with their images into
  ``DIR/<format>`` with Datumaro's own exporters;
* ``{"read": DIR, "format": "cvat"}`` imports ``DIR`` with Datumaro's importer and prints
  ``{"names": [...], "items": [{"id", "boxes": [[label name, x, y, w, h], ...]}]}``.
"""

import json
import sys
from pathlib import Path

import datumaro as dm
from datumaro.components.annotation import AnnotationType, Bbox, LabelCategories
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image


def write(spec: dict) -> None:
    categories = {AnnotationType.label: LabelCategories.from_iterable(spec["names"])}
    items = [DatasetItem(id=item["id"], subset=item.get("subset", "train"),
                         media=Image.from_file(item["image"]),
                         annotations=[Bbox(x, y, w, h, label=int(c))
                                      for c, x, y, w, h in item["boxes"]])
             for item in spec["items"]]
    dataset = dm.Dataset.from_iterable(items, categories=categories)
    for name in spec["formats"]:
        dataset.export(str(Path(spec["write"]) / name), name, save_media=True)


def read(spec: dict) -> None:
    dataset = dm.Dataset.import_from(spec["read"], spec["format"])
    names = [label.name for label in dataset.categories()[AnnotationType.label]]
    items = [{"id": item.id, "boxes": [[names[a.label], *a.get_bbox()]
                                       for a in item.annotations if a.type == AnnotationType.bbox]}
             for item in dataset]
    print(json.dumps({"names": names, "items": items}))


if __name__ == "__main__":
    request = json.loads(Path(sys.argv[1]).read_text())
    write(request) if "write" in request else read(request)
