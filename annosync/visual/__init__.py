"""Visual review: changed samples drawn before/after (``draw.py``) and gathered in a static
``index.html`` gallery (``gallery.py``), from a plan or from two versions of the label files
(``changes.py``)."""
