"""The conformance matrix: every front-end's official SDK x every backend protocol's fake.

`clients.py` drives one front-end through its SDK and normalizes what came back;
`providers.py` scripts one fake provider and normalizes what it was sent; `cases.py` holds
the cases, written once against both; `test_matrix.py` crosses them; `report.py` renders
the results (written by `conftest.py` when `MATRIX_REPORT` is set) as the README's table.
"""
