"""The Hare & Tortoise part (``book/hare_tortoise/``): its studies (:mod:`~.studies`) and figures
(:mod:`~.figures`)."""
