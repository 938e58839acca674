import pytest

from classviz import class_index, class_name, class_names


def test_standard_order():
    names = class_names()
    assert len(names) == 1000
    assert (names[0], names[76], names[130], names[967], names[999]) == (
        "tench", "tarantula", "flamingo", "espresso", "toilet tissue")


@pytest.mark.parametrize("query, index", [
    ("tarantula", 76), ("Tarantula", 76), ("  TARANTULA ", 76), ("black_widow", 75), ("black widow", 75),
    ("76", 76), (76, 76), ("toilet tissue", 999),
])
def test_lookup(query, index):
    assert class_index(query) == index


@pytest.mark.parametrize("bad, error, words", [
    (-1, ValueError, "[0, 1000), but got -1"),
    (1000, ValueError, "but got 1000"),
    (3.5, TypeError, "got 3.5 of type float"),
    (True, TypeError, "type bool"),
    ("no such class", ValueError, "unknown ImageNet class name 'no such class'"),
    ("tarantla", ValueError, "did you mean 'tarantula'"),
    ("crane", ValueError, "[134, 517]"),
])
def test_lookup_errors(bad, error, words):
    with pytest.raises(error) as info:
        class_index(bad)
    assert words in str(info.value)


def test_class_name():
    assert class_name(76) == "tarantula"
    with pytest.raises(ValueError):
        class_name(1000)
