"""The writer benchmark's DynamoDB stand-in: moto's DynamoDB served with keep-alive."""

from __future__ import annotations

import http.client
import json

import pytest

from hazflow.store.aws.writer import dynamodb_client, write_items
from tests.store.aws.test_writer import items, make_table, stored
from tests.support.moto_server import moto_server

LIST_TABLES = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/ap-southeast-2/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}


@pytest.fixture(scope="module")
def standin():
    with moto_server(dynamodb_only=True) as url:
        yield url


def list_tables_twice(url: str) -> list[tuple[int, bool, list[str]]]:
    """Two ListTables requests on one connection: (status, server will close, tables) for each."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    out = []
    try:
        for _ in range(2):
            conn.request("POST", "/", body=b"{}", headers=LIST_TABLES)
            response = conn.getresponse()
            out.append((response.status, response.will_close, json.loads(response.read())["TableNames"]))
    finally:
        conn.close()
    return out


def test_the_standin_stores_what_the_writer_writes(standin):
    table = make_table(standin)
    report = write_items(dynamodb_client(standin), table, items(260), ("pk", "sk"))
    assert report.items == 260 and len(stored(standin, table)) == 260
    assert table in list_tables_twice(standin)[0][2]


def test_the_standin_keeps_the_connection_alive_where_moto_server_closes_it(standin, moto_endpoint):
    kept = list_tables_twice(standin)
    assert [(status, closes) for status, closes, _ in kept] == [(200, False), (200, False)]
    stock = list_tables_twice(moto_endpoint)
    assert [(status, closes) for status, closes, _ in stock] == [(200, True), (200, True)]
