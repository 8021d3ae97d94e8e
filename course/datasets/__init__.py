"""The course's datasets, every one generated or shipped offline.

* ``toy`` -- logic gates, Gaussian blobs and scikit-learn's digits (units 1-2);
* ``text`` -- the standard library's Python source as a character corpus (unit 4);
* ``synthetic`` -- generated sequence tasks (adding problem, sentiment, tagging, ...);
* ``human_numbers`` -- fastbook's Human Numbers, generated (unit 9);
* ``co2`` -- the Mauna Loa CO2 record shipped inside statsmodels, monthly (unit 10).
"""
