"""The book's runner (``python -m lib.book``); its modules import one way, each from the ones
before it: ``settings`` (the environment, read once), ``pages`` (pages and parameters),
``execute`` (papermill and the cache), ``archive`` (paper-scale runs), ``build`` (staging and
Jupyter Book), ``cli`` (the command line). ``assets`` fetches MathJax; ``dashboard`` renders the
claims; ``scaffold`` writes a new chapter."""
