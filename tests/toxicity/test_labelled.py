"""Reading labelled CSVs: the Davidson and Jigsaw layouts (quirks included) and any CSV by flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.toxicity.identity import detect_subgroups
from harness.toxicity.labelled import read_labelled

# Davidson labeled_data.csv layout: unnamed index column; class 0 hate, 1 offensive, 2 neither;
# tweets with newlines inside quoted fields and HTML entities. Sentences are our own (mild).
DAVIDSON = (
    ',count,hate_speech,offensive_language,neither,class,tweet\n'
    '0,3,0,3,0,1,"RT @someone: you absolute clown &amp; fool &#128514;"\n'
    '1,3,0,0,3,2,"lunch was great today,\nsee you all tomorrow"\n'
    '2,3,2,1,0,0,"those muslims are idiots"\n'
    '3,3,0,0,3,2,"a ""quoted"" word and a comma, fine"\n'
)

JIGSAW = (
    "id,target,comment_text,severe_toxicity,male,female,muslim,black,white\n"
    "101,0.8,What an idiot this man is.,0.1,0.9,0.0,,,\n"
    "102,0.1,The women's team played well.,0.0,0.0,1.0,0.0,0.0,0.0\n"
    "103,0.5,Muslim men who post here are fools.,0.0,0.6,0.0,0.7,0.0,0.0\n"
    "104,0.3,\"Black and white, a classic film.\",0.0,,,,0.2,0.4\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_davidson_layout_is_recognised(tmp_path: Path) -> None:
    data = read_labelled(write(tmp_path, "labeled_data.csv", DAVIDSON))
    assert data.layout == "davidson"
    assert [it.label for it in data.items] == [1, 0, 1, 0]
    assert data.items[0].text == "RT @someone: you absolute clown & fool \U0001F602"
    assert data.items[1].text == "lunch was great today,\nsee you all tomorrow"
    assert [it.line for it in data.items] == [2, 3, 5, 6]  # the multi-line tweet takes two lines
    assert [it.id for it in data.items] == ["0", "1", "2", "3"]
    assert data.items[2].subgroups == ("muslim",)
    assert "HTML entities unescaped" in data.notes


def test_jigsaw_layout_uses_identity_columns(tmp_path: Path) -> None:
    data = read_labelled(write(tmp_path, "train.csv", JIGSAW))
    assert data.layout == "jigsaw" and data.subgroup_source.startswith("identity columns")
    assert [it.label for it in data.items] == [1, 0, 1, 0]  # target >= 0.5
    assert [it.subgroups for it in data.items] == [("male",), ("female",), ("male", "muslim"), ()]
    assert data.items[0].id == "101"


def test_any_csv_by_flags_and_positive_values(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.csv", "comment,verdict\nhello there,ok\nyou fool,rude\nnice,ok\n")
    data = read_labelled(path, "comment", "verdict", ("rude",))
    assert [it.label for it in data.items] == [0, 1, 0]
    assert [it.id for it in data.items] == ["line2", "line3", "line4"]


def test_label_spellings_and_fractions(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "text,label\na,toxic\nb,Non-Toxic\nc,TRUE\nd,0\ne,0.75\nf,0.2\n")
    assert [it.label for it in read_labelled(path).items] == [1, 0, 1, 0, 1, 0]


def test_missing_column_names_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "comment,label\nhi,0\n")
    with pytest.raises(HarnessError, match=r"x\.csv:1: no column 'text' \(the header has comment, label\); name the column with --text-column"):
        read_labelled(path)


def test_unmappable_label_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "text,label\nhi,0\nyo,maybe\n")
    with pytest.raises(HarnessError, match=r"x\.csv:3: cannot map label 'maybe' .* --positive"):
        read_labelled(path)


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no labelled rows"):
        read_labelled(write(tmp_path, "x.csv", "text,label\n"))


def test_identity_terms_match_whole_words() -> None:
    assert detect_subgroups("My Muslim neighbour and her girls") == ("female", "muslim")
    assert detect_subgroups("A manageable blackboard") == ()
    assert detect_subgroups("support for the mentally ill") == ("psychiatric_or_mental_illness",)


@pytest.mark.parametrize("value", ["", "3", "2.0", "neither"])
def test_davidson_class_outside_0_1_2_names_file_line_and_value(tmp_path: Path, value: str) -> None:
    text = DAVIDSON.replace('3,3,0,0,3,2,"a ""quoted""', f'3,3,0,0,3,{value},"a ""quoted""')
    path = write(tmp_path, "labeled_data.csv", text)
    with pytest.raises(HarnessError, match=rf"labeled_data\.csv:6: Davidson `class` '{value}' is not 0 \(hate\), 1 \(offensive\) or 2"):
        read_labelled(path)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["rude", "ok", ""], r"x\.csv:4: empty label in `verdict`"),
        (["rude", "ok", "Rude"], r"x\.csv:4: label 'Rude' in `verdict` looks like the --positive value 'rude'"),
        (["rude", "ok", "rude."], r"x\.csv:4: label 'rude\.' in `verdict` looks like the --positive value 'rude'"),
        (["ok", "okay", "fine"], r"x\.csv: no --positive value \(rude\) appears in `verdict` \(values: fine, ok, okay\)"),
    ],
)
def test_positive_values_never_map_a_blank_or_a_variant_spelling_to_non_toxic(tmp_path: Path, cells: list[str], message: str) -> None:
    rows = "".join(f"comment {i},{c}\n" for i, c in enumerate(cells))
    path = write(tmp_path, "x.csv", "comment,verdict\n" + rows)
    with pytest.raises(HarnessError, match=message):
        read_labelled(path, "comment", "verdict", ("rude",))


def test_positive_value_spelt_differently_in_the_column_suggests_the_column_value(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "comment,verdict\na,Rude\nb,ok\nc,hateful\n")
    with pytest.raises(HarnessError, match=r"--positive value 'rude' never appears in `verdict`; did you mean 'Rude'\?"):
        read_labelled(path, "comment", "verdict", ("rude", "hateful"))
    numeric = write(tmp_path, "n.csv", "text,label\na,1.0\nb,0\nc,1\n")
    with pytest.raises(HarnessError, match=r"n\.csv:2: label '1\.0' in `label` looks like the --positive value '1'"):
        read_labelled(numeric, positive=("1",))


def test_other_observed_values_are_non_toxic_and_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "text,label\na,offensive\nb,inoffensive\nc,spam\nd,offensive\ne,neutral\n")
    data = read_labelled(path, positive=("offensive",))
    assert [it.label for it in data.items] == [1, 0, 0, 1, 0]
    assert "toxic when one of offensive; non-toxic: inoffensive, neutral, spam" in data.notes
