"""Scenarios: TOML presets, the discrete-event simulation kernel, the runner, sweeps and reports.

``config`` (the file format), ``kernel`` (virtual clock and message heap), ``runner`` (builds and
runs one simulation), ``recorder``/``outputs``/``artifacts``/``charts``/``stats`` (tables, files,
charts, stylized facts), ``sweep`` (grids x seeds on Dask) and ``cli`` (``cmx run``,
``cmx sweep``). docs/scenarios.md describes them for users.
"""
