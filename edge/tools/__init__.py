"""Offline tools over the same parts the service runs: `qc demo` (`demo`), `qc inspect` (`inspect`, command in
`inspect_cli`), `qc count-table` (`count_table`, command in `count_table_cli`) and `qc bench` (`bench`).

Each command module imports its pipeline only when the command runs, so registering the `qc` commands stays cheap;
the pipelines never import their commands.
"""
