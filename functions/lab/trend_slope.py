import statsmodels.api as sm


def trend_slope(_arg1, _arg2):
    """The slope of the least-squares line through the points (x, y), fitted by statsmodels
    (a library declared in tabpy_requirements).

    >>> trend_slope([1, 2, 3, 4], [3, 5, 7, 9])
    2.0
    """
    fit = sm.OLS(_arg2, sm.add_constant(_arg1)).fit()
    return round(float(fit.params[1]), 9)
