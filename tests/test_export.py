"""Exports (`format=csv|xlsx`) of every report and `search`: the same rows as the JSON, every
page of them, headers as the JSON keys, numbers as numbers in XLSX, the user's restrictions."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from tests.test_reports import DAY1, DAY2, DAY_ONE, DAY_TWO, URL, auth, make_client
from wallboard.history.reports import CATALOGUE
from wallboard.history.reports.export import cell


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return make_client(tmp_path_factory.mktemp("export"), DAY_ONE + DAY_TWO, timezone="UTC",
                       service_levels={"sales": 30})  # fmt: skip


def every_row(client: TestClient, entity: str, user: str) -> list[dict]:
    """All pages of the JSON answer (two rows a page: the export must not page)."""
    rows, page = [], 1
    while True:
        response = client.get(URL, params={"entity": entity, "start": DAY1, "end": DAY2,
                                           "rows": 2, "page": page}, headers=auth(user))  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["rows"]
        if page >= int(body["total"]):
            return rows
        page += 1


def exported(client: TestClient, entity: str, user: str, fmt: str) -> bytes:
    response = client.get(URL, params={"entity": entity, "start": DAY1, "end": DAY2, "rows": 2,
                                       "format": fmt}, headers=auth(user))  # fmt: skip
    assert response.status_code == 200, response.text
    name = entity.split("/")[-1]
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{name}_{DAY1}_{DAY2}.{fmt}"')  # fmt: skip
    return response.content


ENTITIES = [f"reports/{r.name}" for r in CATALOGUE] + ["search"]


@pytest.mark.parametrize("user", ["admin", "sup"])
@pytest.mark.parametrize("entity", ENTITIES)
def test_csv_holds_every_row_of_the_json(client: TestClient, entity: str, user: str) -> None:
    rows = every_row(client, entity, user)
    data = exported(client, entity, user, "csv").decode("utf-8")
    table = list(csv.reader(io.StringIO(data)))
    header, body = table[0], table[1:]
    if rows:
        assert header == list(rows[0])  # the JSON's keys, in order
    assert [dict(zip(header, line, strict=True)) for line in body] == rows
    if user == "sup":  # restricted to support: nothing of another queue in the file
        for column in ("queue", "Queue"):
            if column in header:
                assert {line[header.index(column)] for line in body} <= {"support"}


@pytest.mark.parametrize("entity", ["reports/answered_calls_detail", "reports/distribution_by_queue",
                                    "reports/agent_sessions", "search"])  # fmt: skip
def test_xlsx_holds_the_rows_with_numbers_as_numbers(client: TestClient, entity: str) -> None:
    import openpyxl
    rows = every_row(client, entity, "admin")
    book = openpyxl.load_workbook(io.BytesIO(exported(client, entity, "admin", "xlsx")),
                                  read_only=True)  # fmt: skip
    (sheet,) = book.worksheets
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    header, body = values[0], values[1:]
    assert header == list(rows[0])
    assert len(body) == len(rows) > 0
    for line, row in zip(body, rows, strict=True):
        for key, value in zip(header, line, strict=True):
            expected = cell(row[key])
            assert value == (expected if expected != "" else None), (key, value, row[key])
    numbers = [v for line in body for v in line if isinstance(v, (int, float))]
    assert numbers  # counts and seconds are number cells, not text


def test_a_bad_format_is_a_json_error(client: TestClient) -> None:
    response = client.get(URL, params={"entity": "reports/distribution_by_queue", "format": "pdf"},
                          headers=auth("admin"))  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_format"
    forbidden = client.get(URL, params={"entity": "reports/answered_calls_detail", "queue": "sales",
                                        "format": "csv"}, headers=auth("sup"))  # fmt: skip
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden_queue"


def test_cells_read_as_numbers_only_when_they_are() -> None:
    assert [cell(v) for v in ("12", "-3", "33.33", "0", "007", "12:00:01", "2024-03-05", "",
                              "1e5", "abc")] == [12, -3, 33.33, 0, "007", "12:00:01",
                                                 "2024-03-05", "", "1e5", "abc"]  # fmt: skip
