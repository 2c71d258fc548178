"""The continual-learning part (``book/continual/``): the slowly-changing regression study
(:mod:`~.studies`), the remedies study (:mod:`~.remedies`) and the figures (:mod:`~.figures`)."""
