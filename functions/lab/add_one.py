def add_one(_arg1):
    """Adds one to each value of a measure.

    From a calculated field: SCRIPT_REAL("return tabpy.query('add_one', _arg1)['response']",
    SUM([Sales])).

    >>> add_one([1, 2.5])
    [2, 3.5]
    """
    return [value + 1 for value in _arg1]
