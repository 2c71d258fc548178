"""The DASH part (``book/dash/``): the numbers, tables and figures of its chapters.

* :mod:`~plasticity_sim.dash.studies` - the numbers a chapter needs (shrink geometry, cosines, gaps);
* :mod:`~plasticity_sim.dash.figures` - every DASH figure;
* :mod:`~plasticity_sim.dash.report` - results summaries and the one Table-1 formatter;
* :mod:`~plasticity_sim.dash.cpu_study` - the five-seed CPU study (``study dash/main``, ``dash/controls``);
* :mod:`~plasticity_sim.dash.paper_scale` - the paper-scale commands and their results.
"""
