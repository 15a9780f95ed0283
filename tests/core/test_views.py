"""The joint-embedding methods' view settings turned into a ViewConfig: colour terms, hue range, rotation."""
from __future__ import annotations

import pytest

from workbench.views import ViewSettings, view_config


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.3, 0.4, 0.8, 1.0])
def test_default_hue_range_is_simclrs(jitter):
    # the default keeps SimCLR's hue: min(0.1, jitter / 4)
    assert view_config(ViewSettings(jitter=jitter), 3).hue == pytest.approx(min(0.1, jitter / 4))


def test_a_wider_hue_range_reaches_any_colour_at_full_jitter():
    assert view_config(ViewSettings(jitter=1.0, hue=0.5), 3).hue == pytest.approx(0.5)
    assert view_config(ViewSettings(jitter=0.2, hue=0.5), 3).hue == pytest.approx(0.25)  # half strength
    assert view_config(ViewSettings(jitter=0.0, hue=0.5), 3).hue == 0.0  # no jitter, no colour change


def test_grey_data_gets_no_colour_terms_whatever_the_hue_range():
    views = view_config(ViewSettings(jitter=1.0, hue=0.5), 1)
    assert views.hue == views.saturation == views.gray_p == 0.0


def test_rotation_passes_through_and_is_off_by_default():
    assert view_config(ViewSettings(), 1).rotate == 0.0
    assert view_config(ViewSettings(rotate=15.0), 1).rotate == 15.0


def test_shift_passes_through_and_is_off_by_default():
    assert view_config(ViewSettings(), 3).shift == 0.0
    assert view_config(ViewSettings(shift=0.2), 1).shift == 0.2
