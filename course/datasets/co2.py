"""The Mauna Loa CO2 record (Keeling), weekly 1958-2001, shipped inside statsmodels.

``statsmodels.datasets.co2`` holds 2,284 weekly means of the atmospheric CO2
concentration (ppmv) measured at Mauna Loa Observatory, Hawaii, from 29 March
1958 to 29 December 2001; 59 weeks have no value (no six-hour steady period
that week). statsmodels' notice: "This is public domain"; its source: C.D.
Keeling and T.P. Whorf (2004), *Atmospheric CO2 concentrations derived from
flask air samples at sites in the SIO network*, in *Trends: A Compendium of
Data on Global Change*, CDIAC, Oak Ridge National Laboratory. Nothing is
downloaded: the CSV file is read from the installed package (no pandas).

The series has a trend (about +1.5 ppmv a year) and a yearly cycle (about
6 ppmv peak to trough, highest in May, lowest in October): the classic shape
of a real, seasonal time series.

Typical use::

    from course.datasets.co2 import monthly
    t, ppm = monthly()      # (526,) decimal years (mid-month), (526,) ppmv
"""

from importlib import resources

import numpy as np

__all__ = ["weekly", "monthly"]


def weekly():
    """The raw record: ``dates`` (2284,) int64 as YYYYMMDD and ``co2`` (2284,) float64 ppmv,
    NaN where a week has no measurement (59 weeks)."""
    path = resources.files("statsmodels.datasets.co2") / "co2.csv"
    data = np.genfromtxt(str(path), delimiter=",", skip_header=1)
    return data[:, 0].astype(np.int64), data[:, 1]


def monthly():
    """Monthly means of the weekly values, March 1958 to December 2001.

    Returns ``t`` (526,) decimal years at mid-month (1958.21, ...) and ``co2`` (526,)
    ppmv. Weeks without a value are skipped; the few months with no measured week at
    all (:func:`months_interpolated`: 5) are interpolated linearly between their neighbours."""
    dates, co2 = weekly()
    month = (dates // 10000 - 1958) * 12 + (dates // 100 % 100 - 1)  # months since January 1958
    first, last = month.min(), month.max()
    sums = np.zeros(last - first + 1)
    counts = np.zeros(last - first + 1)
    ok = ~np.isnan(co2)
    np.add.at(sums, month[ok] - first, co2[ok])
    np.add.at(counts, month[ok] - first, 1)
    values = np.full(len(sums), np.nan)
    values[counts > 0] = sums[counts > 0] / counts[counts > 0]
    missing = np.isnan(values)
    idx = np.arange(len(values))
    values[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    t = 1958 + (first + idx + 0.5) / 12
    return t, values


def months_interpolated():
    """How many months of :func:`monthly` had no measured week and were interpolated."""
    dates, co2 = weekly()
    month = (dates // 10000) * 12 + dates // 100 % 100
    measured = set(month[~np.isnan(co2)].tolist())
    return int(month.max() - month.min() + 1 - len(measured))
