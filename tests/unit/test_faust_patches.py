"""The workers refuse a faust-streaming their patches were not written for."""

from __future__ import annotations

import faust
import pytest

from streams import faust_patches


def test_the_installed_faust_is_one_the_patches_were_written_for() -> None:
    faust_patches.check_version(faust.__version__)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.0.0"])
def test_another_faust_is_refused_naming_both_versions(version: str) -> None:
    with pytest.raises(faust_patches.UnsupportedFaust, match=f"faust-streaming {version} is"):
        faust_patches.check_version(version)
