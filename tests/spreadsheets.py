"""A generated, messy spreadsheet export of contacts, and exactly what importing it must give.

What people really have: Excel's semicolon CSV (byte-order mark, CRLF, quoted line breaks in a
notes column), tab-separated exports, national phone numbers (Norwegian, written as people
write them), foreign numbers with their country in a column, the same person again with the
email in capitals, blank rows, and rows that cannot be imported (a broken email, a number
that is no number). The generator counts every kind as it writes it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random


@dataclasses.dataclass
class Export:
    data: bytes
    rows: int = 0  # rows with data: one batch item each
    blank_rows: int = 0
    created: int = 0
    unchanged: int = 0
    bad_emails: int = 0
    bad_phones: int = 0
    norwegian: int = 0  # contacts whose mobile is Norwegian (+47)
    american: int = 0  # contacts whose mobile is American (+1), from the country column
    multi_line_notes: int = 0  # contacts whose notes hold a line break
    repeated_american: int = 0  # of the unchanged rows, those repeating an American contact

    @property
    def failed(self) -> int:
        return self.bad_emails + self.bad_phones


HEADER = ["E-mail", "Mobile", "First name", "Last name", "Notes", "Country"]


def export(rows: int, *, delimiter: str = ";", excel: bool = True, seed: int = 7, mac: bool = False) -> Export:
    """`rows` data rows (plus blank ones); `excel`: a byte-order mark and CRLF line ends; `mac`:
    lines ending in CR alone and every cell quoted, as classic Mac Excel's "CSV (Macintosh)"."""
    rng = random.Random(seed)
    out = io.StringIO(newline="")
    line_end = "\r" if mac else "\r\n" if excel else "\n"
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=csv.QUOTE_ALL if mac else csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    result = Export(b"")
    written: list[list[str]] = []
    for i in range(rows):
        kind = rng.random()
        if i and i % 97 == 0:
            writer.writerow([""] * len(HEADER))  # a blank row, as spreadsheets leave them
            result.blank_rows += 1
        if written and kind < 0.04:
            again = list(rng.choice(written))
            again[0] = again[0].upper()  # the same person, the email in capitals: matched, nothing to change
            writer.writerow(again)
            result.unchanged += 1
            result.repeated_american += again[-1] == "US"
        elif kind < 0.06:
            writer.writerow([f"broken-{i}.example.com", _norwegian(i), "Broken", "Email", "", ""])
            result.bad_emails += 1
        elif kind < 0.08:
            writer.writerow([f"nophone{i}@example.com", "12 34", "No", "Number", "", ""])
            result.bad_phones += 1
        else:
            american = kind < 0.18
            mobile = f"(646) 755-{i % 10_000:04d}" if american else _norwegian(i)
            notes = f"Met at the fair\nasked for a call back ({i})" if kind > 0.9 else f"customer {i}"
            row = [f"Person.{i}@Example.com", mobile, f"Første{i}", "Ødegård" if i % 2 else "Smith", notes, "US" if american else ""]
            writer.writerow(row)
            written.append(row)
            result.created += 1
            result.american += american
            result.norwegian += not american
            result.multi_line_notes += "\n" in notes
        result.rows += 1
    text = out.getvalue()
    result.data = ("\ufeff" + text if excel else text).encode()
    return result


def _norwegian(i: int) -> str:
    """A Norwegian mobile as people write it: 4xx xx xxx (national, no country code)."""
    digits = f"4{i:07d}"
    return f"{digits[:3]} {digits[3:5]} {digits[5:]}"
