"""The option table (hyperopt_nas/options.py): the command line, search()'s keywords and a space
file's DEFAULTS are made from it, so they agree for every option, including one added later."""

import dataclasses
import re

import pytest
from conftest import ROOT

import hyperopt_nas
from hyperopt_nas.options import OPTION, OPTIONS, folder, read_keywords, text
from hyperopt_nas.settings import SearchSettings, check_settings
from hyperopt_nas.space_files import check_defaults

ON_THE_COMMAND_LINE = [o for o in OPTIONS if o.cli is not None]


def _argv(option) -> list[str]:
    return [option.cli] if option.is_switch else [option.cli, option.example]


def _keyword(option):
    return (not option.default) if option.is_switch else option.example


# What the settings as a whole need beside these options (check_settings), where their mode
# does not say it.
ALSO = {"trials_per_gpu": {"gpus": "0"}, "data_on_gpu": {"keras_backend": "jax"}}


def _mode(option, outside: bool = False) -> tuple[list[str], dict]:
    """The options that put ``option`` in its mode (or ``outside`` it), as a command line and
    as keywords."""
    keywords = {}
    for name, values in option.needs:
        keywords[name] = (next(c for c in OPTION[name].choices if c not in values) if outside
                          else values[0])
    keywords.update({} if outside else ALSO.get(option.name, {}))
    return [a for name, value in keywords.items() for a in (OPTION[name].cli, value)], keywords


def _cli(argv, monkeypatch):
    import hyperopt_optimize
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    args = hyperopt_optimize.parse_args(["--space", "s.py", "--results-dir", "r", *argv])
    return hyperopt_optimize.settings_from_args(args)


def _api(keywords, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return hyperopt_nas.settings_of("s.py", "r", keywords)


@pytest.mark.parametrize("option", ON_THE_COMMAND_LINE, ids=lambda o: o.name)
def test_every_option_gives_the_same_settings_from_the_command_line_and_the_api(option,
                                                                                monkeypatch):
    mode_argv, mode_keywords = _mode(option)
    cli = _cli([*mode_argv, *_argv(option)], monkeypatch)
    keywords = {**mode_keywords, option.name: _keyword(option)}
    assert cli == _api(keywords, monkeypatch)
    # It reached the settings: they differ from those of its mode alone.
    assert cli != _cli(mode_argv, monkeypatch)
    for alias in option.keywords[1:]:  # the settings' own name for it is a keyword too
        assert _api({**mode_keywords, alias: _keyword(option)}, monkeypatch) == cli
    check_settings(dataclasses.replace(cli, data_dir=None))  # the whole accepts what it read


@pytest.mark.parametrize("option", [o for o in ON_THE_COMMAND_LINE if o.needs],
                         ids=lambda o: o.name)
def test_every_option_outside_its_mode_is_refused_by_both(option, capsys, monkeypatch,
                                                          tmp_path):
    import hyperopt_optimize
    outside_argv, outside = _mode(option, outside=True)
    args = hyperopt_optimize.parse_args(["--results-dir", str(tmp_path / "r"), *outside_argv,
                                         *_argv(option)])
    assert hyperopt_optimize.command_search(args) == hyperopt_optimize.EXIT_FATAL
    assert f"error: {option.cli} applies only with {option.mode_text()}" \
        in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match=re.escape(f"search(): {option.name} applies only with "
                                                   f"{option.mode_text(api=True)}")):
        _api({**outside, option.name: _keyword(option)}, monkeypatch)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_refuses_a_bad_value_and_reads_its_own_value_again(option, capsys):
    with pytest.raises(ValueError, match=f"^search\\(\\): {option.name} must be .*, got "):
        read_keywords({option.name: object()})
    if option.cli is not None and not option.is_switch and option.read not in (text, folder):
        import hyperopt_optimize
        with pytest.raises(SystemExit) as exit_:
            hyperopt_optimize.parse_args([f"{option.cli}=5x!"])
        assert exit_.value.code == 2
        assert re.search(f"argument {option.cli}(/--[a-z]+)?: must be ", capsys.readouterr().err)
    if option.example:
        once = option.read(option.example)
        assert option.read(once) == once


def test_every_setting_is_an_options_and_takes_its_default():
    settings = SearchSettings(space_path="s.py")
    by_setting = {o.setting: o for o in OPTIONS if o.setting}
    for field in dataclasses.fields(SearchSettings):
        if field.name in ("space_path", "results_dir"):
            continue
        assert field.name in by_setting, f"{field.name} has no option in options.OPTIONS"
        option = by_setting[field.name]
        if field.name not in ("prune", "workers"):
            assert getattr(settings, field.name) == option.default, field.name


def test_the_python_apis_own_options_reach_the_settings(monkeypatch):
    calls = []
    settings = _api(dict(plot_best=False, tpe_history=None, snapshot_every_s=0,
                         on_trial_end=calls.append, memory_growth_mb=512, ask_ahead=False),
                    monkeypatch)
    assert (settings.plot_best, settings.plot_search) == (False, True)
    assert settings.tpe_history is None and settings.snapshot_every_s == 0
    assert settings.on_trial_end == calls.append and settings.memory_growth_mb == 512
    assert settings.ask_ahead is False


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.in_defaults], ids=lambda o: o.name)
def test_a_space_files_defaults_read_an_option_as_the_command_line_does(option, tmp_path,
                                                                        monkeypatch):
    read = check_defaults({option.name: option.example}, tmp_path / "s.py")
    assert getattr(_cli(_argv(option), monkeypatch), option.setting) == read[option.name]
    assert check_defaults({option.name: None}, tmp_path / "s.py") == {}  # None: not set


def test_the_help_names_every_option_and_its_default(capsys):
    import hyperopt_optimize
    with pytest.raises(SystemExit):
        hyperopt_optimize.parse_args(["search", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    documented = (ROOT / "docs" / "usage.md").read_text()
    for option in ON_THE_COMMAND_LINE:
        assert option.cli in shown
        assert f"`{option.cli}" in documented, f"{option.cli} is not in docs/usage.md's table"
    assert "hyperopt's search algorithm; grid tries every combination of a fully discrete " \
           "space once, in seeded random order (default: tpe)" in shown
