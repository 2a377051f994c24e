"""Built-in region formats (``coco``, ``masks``, ``boxes_csv``); see :mod:`auditor.data.regions`."""
