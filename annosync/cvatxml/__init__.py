"""CVAT XML 1.1 ("CVAT for images 1.1" / "CVAT for video 1.1") and CVAT zip exports.

Two layers (``docs/cvat-xml.md``):

* the format layer reads and writes documents losslessly and in streaming fashion:
  ``XmlReader`` / ``read_document``, ``XmlWriter`` / ``write_document``, ``open_zip`` /
  ``ZipWriter``, with the model in ``model.py`` / ``meta.py``; ``bridge.py`` converts to and
  from CVAT's JSON annotations exactly as CVAT's dumper and importer do;
* the dataset layer exports dataset folders (``export_xml``) and imports files into them
  (``import_xml``).
"""

from __future__ import annotations

from annosync.cvatxml.canonical import canonical
from annosync.cvatxml.export import ExportReport, export_xml
from annosync.cvatxml.import_ import ImportReport, import_xml, load_data_map
from annosync.cvatxml.meta import Meta
from annosync.cvatxml.model import Attr, Image, Mask, Shape, Tag, Track
from annosync.cvatxml.reader import Document, XmlReader, read_document
from annosync.cvatxml.writer import XmlWriter, document_bytes, write_document
from annosync.cvatxml.zipio import ZipLimits, ZipWriter, open_zip

__all__ = [
    "Attr",
    "Document",
    "ExportReport",
    "Image",
    "ImportReport",
    "Mask",
    "Meta",
    "Shape",
    "Tag",
    "Track",
    "XmlReader",
    "XmlWriter",
    "ZipLimits",
    "ZipWriter",
    "canonical",
    "document_bytes",
    "export_xml",
    "import_xml",
    "load_data_map",
    "open_zip",
    "read_document",
    "write_document",
]
