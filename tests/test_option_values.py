"""Values of the search's options as people write them (hyperopt_nas/option_values.py), read the
same way by the command line and the Python API."""

import pytest

from hyperopt_nas import option_values


@pytest.mark.parametrize("text, seconds", [(90, 90.0), ("90", 90.0), ("90s", 90.0),
                                           ("30m", 1800.0), ("1.5h", 5400.0), (" 2H ", 7200.0)])
def test_durations_take_seconds_or_a_unit(text, seconds):
    assert option_values.duration(text) == seconds


@pytest.mark.parametrize("text, count", [(50000, 50000), ("50,000", 50000), ("50_000", 50000),
                                         ("50k", 50000), ("1.5M", 1500000), ("2m", 2000000)])
def test_parameter_counts_take_separators_and_k_or_m(text, count):
    assert option_values.parameter_count(text) == count


@pytest.mark.parametrize("text, ms", [(5, 5.0), ("0.8", 0.8), ("5ms", 5.0)])
def test_milliseconds_take_an_optional_ms(text, ms):
    assert option_values.milliseconds(text) == ms


@pytest.mark.parametrize("read, text, message", [
    (option_values.duration, "ten", "a duration such as 90s, 30m or 2h"),
    (option_values.duration, "0m", "must be a positive duration, got '0m'"),
    (option_values.duration, "inf", "must be a positive duration"),
    (option_values.parameter_count, "lots", "a number of parameters such as 50000, 50k"),
    (option_values.parameter_count, "1.5", "a whole number of parameters of at least 1"),
    (option_values.parameter_count, "0", "a whole number of parameters of at least 1"),
    (option_values.milliseconds, "-1", "must be more than 0 ms, got '-1'"),
    (option_values.milliseconds, "fast", "milliseconds such as 5 or 0.8"),
])
def test_what_cannot_be_read_says_what_it_wants(read, text, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        read(text)
