"""How a CSV file is read (store/batches/csv.py): the header behind importContacts' importReport,
and each row as a batch item — no database, no app."""

from __future__ import annotations

import pytest

from contactql.store.batches.csv import entries, read_header
from contactql.store.errors import Invalid


def test_the_header_says_what_each_column_becomes() -> None:
    header = read_header(b"\xef\xbb\xbfE-mail;First Name;City;Shoe size;Country\r\n", properties={"city"})
    assert header.shown_delimiter == "semicolon"
    assert [header.names[i] for i in sorted(header.fields)] == ["E-mail", "First Name", "Country"]
    assert list(header.properties.values()) == ["City"] and header.unknown == ("Shoe size",)
    created = header.with_created(["shoe size"])
    assert sorted(created.properties.values()) == ["City", "Shoe size"] and created.unknown == ()


@pytest.mark.parametrize(("first", "delimiter"), [(b"email,name", "comma"), (b"email\tname", "tab"), (b'"a;b",email,x', "comma")])
def test_the_delimiter_is_the_one_that_splits_the_header_most(first: bytes, delimiter: str) -> None:
    assert read_header(first + b"\n", set()).shown_delimiter == delimiter


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"", "empty"), (b"name,city\n", "no email, mobile or externalId"), (b"email,Email\n", "more than once"), (b"email\x00\n", "NUL byte"), (b"email\n\xff", "not UTF-8")],
)
def test_a_file_that_cannot_be_imported_is_refused_before_any_row(data: bytes, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        read_header(data, set())
    assert says in refused.value.problems[0].message and refused.value.problems[0].path == ("file",)


def test_rows_are_items_named_by_their_spreadsheet_row_and_a_bad_row_fails_alone() -> None:
    data = b'email,mobile,country,first name\na@example.com,953 45 259,NO,\n\n"b@example.com",notanumber,,\nc@example.com,+47 908 12 501,,"Ann\nMarie"\n'
    items = entries(data, read_header(data, set()))
    refs = [(e.get("item") or e)["client_ref"] for e in items]
    assert refs == ["row 2", "row 4", "row 5"], "the blank row 3 is skipped, and counted"
    assert ["problems" in e for e in items] == [False, True, False]
    assert [p["path"] for p in items[1]["problems"]] == [["mobile"]]
    assert items[0]["item"]["values"]["mobile"] == "+4795345259"  # read in the row's country
    assert items[2]["item"]["values"]["first_name"] == "Ann\nMarie"  # a cell with a line break in it
