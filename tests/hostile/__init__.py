"""The hostile-input corpus: generated bad inputs (tables in :mod:`hostile.corpus`) and the checks
every surface applies to them (:mod:`hostile.checks`). See ``tests/hostile/README.md``."""
