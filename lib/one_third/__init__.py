"""Chapter ``one_third_time``: the softmax teacher-student head of arXiv 2602.03685.

``model`` (the head, its loss and analytic gradient), ``sweep`` (the batched lr × T × seed sweep
and the one-model reference), ``theory`` (the aligned ansatz, evaluated numerically),
``analysis`` (window fits, collapse, exponent map, decay shape), ``plots``, ``params``.
"""
