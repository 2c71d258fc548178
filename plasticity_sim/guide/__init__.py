"""The book's closing part, "What to use, when" (``book/guide/``): one map of every remedy against its
setting's no-remedy baseline, read from the other parts' shipped results (:mod:`~.remedy_map`), and
its figure (:mod:`~.figures`).

Unlike the other parts, this one sits *above* them: it imports the DASH, Hare & Tortoise and
continual parts' loaders (and nothing of its own trains), so that every number of the map is the
number the part itself computes.
"""
