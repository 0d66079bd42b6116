"""Every front-end's SDK x every backend protocol x {whole, stream} x every case.

Cells are generated only for the front-ends and backends that exist when the tests are
collected; the report shows the others as "not built". Ids read like
`anthropic-via-gemini-stream-tool_round_trip`.
"""

from __future__ import annotations

import pytest

from tests.e2e.matrix.cases import CASES, MODES, Cell
from tests.e2e.matrix.clients import CLIENTS
from tests.e2e.matrix.conftest import Lab
from tests.e2e.matrix.providers import PROVIDERS

BUILT_CLIENTS = {c.name: c for c in CLIENTS if c.available()}
BUILT_PROVIDERS = {p.name: p for p in PROVIDERS if p.available()}
CELLS = [
    (client, provider, mode, case)
    for client in BUILT_CLIENTS
    for provider in BUILT_PROVIDERS
    for mode in MODES
    for case in CASES
]


@pytest.mark.parametrize("cell", CELLS, ids=[f"{c}-via-{p}-{m}-{case}" for c, p, m, case in CELLS])
def test_matrix(lab: Lab, cell: tuple[str, str, str, str]) -> None:
    client_name, provider_name, mode, case = cell
    client, provider = BUILT_CLIENTS[client_name], BUILT_PROVIDERS[provider_name]
    fake, _ = lab.backend(provider)
    provider.reset(fake)
    CASES[case](
        Cell(client, lab.session(client, provider), provider, fake, stream=mode == "stream")
    )
