"""A search's settings made from options already read, and checked as a whole."""

import pytest

from hyperopt_nas.errors import FatalError
from hyperopt_nas.schedulers.pruning import PruneRule
from hyperopt_nas.settings import SearchSettings, check_settings, settings_from


def test_gpus_set_the_workers_unless_they_are_given(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert settings_from("s.py", "r", {"gpus": ["0", "1"]}).workers == 2
    packed = settings_from("s.py", "r", {"gpus": ["0", "1"], "trials_per_gpu": 3})
    assert (packed.gpus, packed.workers) == (["0", "1"], 6)
    assert settings_from("s.py", "r", {"gpus": ["0", "1"], "workers": 1}).workers == 1
    assert settings_from("s.py", "r", {}).workers == 1


def test_gpu_numbers_are_those_of_an_existing_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert settings_from("s.py", "r", {"gpus": ["1"]}).gpus == ["6"]
    assert settings_from("s.py", "r", {"gpus": "all"}).gpus == ["4", "6"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="--gpus all: this machine shows no GPU"):
        settings_from("s.py", "r", {"gpus": "all"})


def test_the_prune_options_make_one_rule_and_no_plot_both_pictures():
    made = settings_from("s.py", "r", {"prune": "percentile", "prune_percentile": 10.0,
                                       "prune_warmup": 1, "plot": False})
    assert made.prune == PruneRule("percentile", 10.0, 1, 3)
    assert (made.plot_best, made.plot_search) == (False, False)
    given = PruneRule("median", min_trials=5)
    assert settings_from("s.py", "r", {"prune": given}).prune is given


@pytest.mark.parametrize("changes, said", [
    (dict(algo="bogus"), "--algo must be one of tpe, rand"),
    (dict(seed=-1), "--seed must be 0 or more, got -1"),
    (dict(max_params=True), "--max-params must be a number of parameters"),
    (dict(tpe_history=0), "tpe_history must be a positive whole number, got 0"),
    (dict(workers=2, isolation="none"), "--isolation none trains in this process"),
    (dict(prune=PruneRule("median"), schedule="asha"), "--schedule asha cannot be combined"),
])
def test_settings_made_directly_are_read_as_the_options_would_be(changes, said, tmp_path):
    with pytest.raises(FatalError, match=said):
        check_settings(SearchSettings(space_path=tmp_path / "s.py", **changes))
