"""The version is written once, in python/qvec/__init__.py: the package metadata (scikit-build-
core's regex provider) and the C++ CMake package (CMakeLists.txt) read it from there."""
import re
from importlib.metadata import version

import qvec


def test_metadata_version_is_the_package_version():
    assert version("qvec") == qvec.__version__


def test_version_is_what_cmake_parses():
    # CMakeLists.txt takes the leading X.Y.Z of the __version__ line as the project version.
    assert re.match(r"[0-9]+\.[0-9]+\.[0-9]+", qvec.__version__), qvec.__version__
