"""The Mauna Loa CO2 loader reads statsmodels' shipped record and averages it by month."""

import numpy as np

from course.datasets import co2


def test_weekly_is_statsmodels_record():
    import statsmodels.datasets.co2 as sm_co2

    dates, values = co2.weekly()
    reference = sm_co2.load_pandas().data["co2"].to_numpy()
    assert dates.shape == values.shape == (2284,)
    assert dates[0] == 19580329 and dates[-1] == 20011229
    np.testing.assert_array_equal(np.isnan(values), np.isnan(reference))
    np.testing.assert_allclose(values[~np.isnan(values)], reference[~np.isnan(reference)])


def test_monthly_matches_pandas_resampling():
    import statsmodels.datasets.co2 as sm_co2

    t, ppm = co2.monthly()
    # independent reference: pandas' calendar-month means of the weekly values, gaps interpolated
    reference = sm_co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy()
    assert t.shape == ppm.shape == (526,) and not np.isnan(ppm).any()
    np.testing.assert_allclose(ppm, reference, atol=1e-9)
    assert t[0] == np.float64(1958 + 2.5 / 12)  # March 1958, mid-month
    assert np.all(np.diff(t) > 0) and co2.months_interpolated() == 5
