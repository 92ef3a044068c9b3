"""Sphinx configuration of the pytest-asyncio-coop documentation."""

import pytest_asyncio_coop

project = "pytest-asyncio-coop"
author = "the pytest-asyncio-coop authors"
release = version = pytest_asyncio_coop.__version__

extensions = ["sphinx.ext.autodoc"]
html_theme = "furo"
html_title = f"{project} {release}"

# Type hints are shown in the signatures; the hookspecs import the models
# only under TYPE_CHECKING, so names stay as written.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
add_module_names = False
# Every cross-reference must resolve. Python's own classes are left out:
# linking them needs intersphinx, which needs the network, and CI reaches
# only PyPI.
nitpicky = True
nitpick_ignore_regex = [("py:class", r"(asyncio|traceback)\..*")]
exclude_patterns = ["_build"]
