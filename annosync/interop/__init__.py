"""Ways in and out for datasets that live elsewhere, without their tools installed:
FiftyOne's on-disk ``FiftyOneDataset`` export (``fiftyone.py``) and COCO instances JSON
(``coco.py``). Each import builds the whole dataset folder aside and moves it into place only
when everything was read, so a broken file leaves nothing half-written."""
