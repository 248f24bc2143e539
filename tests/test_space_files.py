import re
from pathlib import Path

import pytest
from conftest import ROOT, write_space
from hyperopt import Domain, Trials, hp, rand

from hyperopt_nas.outputs.reports import flatten_params
from hyperopt_nas.space_files import (SpaceFileError, active_labels, catalog, fingerprint,
                                      load_space_file, point_vals)

SHIPPED = sorted(p for p in (ROOT / "search_spaces").glob("*.py") if p.name != "__init__.py")


def test_missing_names_are_listed(tmp_path):
    path = write_space(tmp_path / "s.py", text="SPACE = {}\nDATASET = 'mnist'\n")
    with pytest.raises(SpaceFileError, match=r"missing: MODEL\."):
        load_space_file(path)


def test_missing_file_lists_shipped_spaces(tmp_path):
    with pytest.raises(SpaceFileError, match="does not exist.*cifar100.py"):
        load_space_file(tmp_path / "nope.py")


def test_broken_file_says_why(tmp_path):
    path = write_space(tmp_path / "s.py", text="SPACE = {\n")
    with pytest.raises(SpaceFileError, match="failed to import: SyntaxError"):
        load_space_file(path)


def test_unknown_budget_key_is_refused(tmp_path):
    path = write_space(tmp_path / "s.py", text="""
        from hyperopt import hp
        SPACE = {"learning_rate": hp.uniform("a", 0, 1)}
        DATASET, MODEL = "mnist", "mlp"
        DEFAULTS = {"epoch": 3}
    """)
    with pytest.raises(SpaceFileError, match=r"unknown keys \['epoch'\]"):
        load_space_file(path)


@pytest.mark.parametrize("name, value, message", [
    ("DATASET", '"imagenet"', "DATASET 'imagenet' is not one of"),
    ("MODEL", '"transformer"', "MODEL 'transformer' is not one of"),
])
def test_unknown_dataset_or_model_is_refused(tmp_path, name, value, message):
    text = f"""
        from hyperopt import hp
        SPACE = {{"learning_rate": hp.uniform("a", 0, 1)}}
        DATASET, MODEL, DEFAULTS = "mnist", "mlp", {{}}
        {name} = {value}
    """
    with pytest.raises(SpaceFileError, match=message):
        load_space_file(write_space(tmp_path / "s.py", text=text))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_spaces_load(path: Path):
    space = load_space_file(path)
    assert space.params and space.dataset and space.model


def test_catalog_knows_conditions_of_nested_choices():
    params = load_space_file(ROOT / "search_spaces" / "cifar100.py").params
    assert params["optimizer"].option_names == ["'Adam'", "'Nadam'", "'RMSprop'"]
    [[cond]] = params["residual_units"].paths
    assert (cond.label, cond.index) == ("residual", 1)
    assert active_labels(params, {"residual": 0}).isdisjoint({"residual_units"})
    assert "residual_units" in active_labels(params, {"residual": 1})
    assert params["batch_size"].n_values() == 71  # 100, 105, ..., 450


def test_shared_subspace_is_active_under_each_option():
    layer = {"u": hp.uniform("u3", 0, 1)}
    params = catalog({"n": hp.choice("n", [[], [layer], [layer, layer]])})
    assert "u3" in active_labels(params, {"n": 1})
    assert "u3" in active_labels(params, {"n": 2})
    assert "u3" not in active_labels(params, {"n": 0})


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_hyperparameters_are_named_as_rank_names_them(path: Path):
    """One naming scheme: a hyperparameter's name is the key of its value in the flattened
    decoded point (rank's columns, plots, CSV), wherever it is drawn."""
    space = load_space_file(path)
    names = [p.name for p in space.params.values()]
    assert len(set(names)) == len(names)
    for doc in rand.suggest(list(range(8)), Domain(lambda point: 0, space.space), Trials(), 1):
        vals = {label: v[0] for label, v in doc["misc"]["vals"].items() if v}
        flat = flatten_params(space.decode(vals))
        for label in vals:
            place = space.params[label].name.split(" (")[0]  # "place (label)" where shared
            assert place in flat or any(k.startswith(place + ".") for k in flat), (place, flat)


def test_names_follow_the_place_in_the_point():
    params = catalog({"blocks": [{"f": hp.choice("f1", [8, 16])},
                                 hp.choice("second", [None, {"f": hp.choice("f2", [8, 16])}])],
                      "lr": hp.loguniform("lr_label", -3, 0),
                      "odd": hp.choice("odd", [1, hp.uniform("odd_value", 0, 1)]),
                      "mix": hp.uniform("a", 0, 1) + hp.uniform("b", 0, 1)})
    names = {label: p.name for label, p in params.items()}
    assert names == {"f1": "blocks.0.f", "second": "blocks.1", "f2": "blocks.1.f",
                     "lr_label": "lr", "odd": "odd", "odd_value": "odd (odd_value)",
                     "a": "mix", "b": "mix (b)"}
    assert catalog(hp.choice("root", [1, 2]))["root"].name == "root"  # a space not a dict


def test_fingerprint_follows_ranges_not_layout():
    a = fingerprint({"x": hp.uniform("x", 0, 1), "c": hp.choice("c", ["a", "b"])})
    b = fingerprint({"c": hp.choice("c", ["a", "b"]), "x": hp.uniform("x", 0, 1)})
    c = fingerprint({"x": hp.uniform("x", 0, 2), "c": hp.choice("c", ["a", "b"])})
    assert a == b != c


EDITABLE = """
from hyperopt import Domain, Trials, hp, rand
DATASET, MODEL, DEFAULTS = "mnist", "mlp", {{}}
SPACE = {{"optimizer": hp.choice("opt", {options}), "learning_rate": hp.uniform("lr", {low}, 1.0),
          "hidden_layers": hp.choice("extra", [None, [{{"units": hp.uniform("u", 0, 1)}}]]){more}}}
"""


def _space(tmp_path, name, options='["adam", "sgd"]', low=0.0, more=""):
    return load_space_file(write_space(tmp_path / name, text=EDITABLE.format(
        options=options, low=low, more=more)))


def _recorded(space, vals):
    """What a trial record keeps of a point: its vals, its chosen options, its decoded values."""
    return vals, space.choice_options(vals), space.decode(vals)


def test_reordered_choice_keeps_the_trial_with_its_real_option(tmp_path):
    old = _space(tmp_path, "a.py")
    new = _space(tmp_path, "b.py", options='["sgd", "rmsprop", "adam"]')
    vals = {"opt": 0, "lr": 0.5, "extra": 1, "u": 0.25}
    new_vals, why = new.encode(*_recorded(old, vals))
    assert why == ""
    assert new_vals["opt"] == 2  # "adam" moved from index 0 to 2
    assert new.decode(new_vals) == old.decode(vals)


def test_removed_option_sets_the_trial_aside(tmp_path):
    old = _space(tmp_path, "a.py")
    new = _space(tmp_path, "b.py", options='["sgd"]')
    new_vals, why = new.encode(*_recorded(old, {"opt": 0, "lr": 0.5, "extra": 0}))
    assert new_vals is None and "'opt' is no longer offered" in why


def test_narrowed_range_sets_the_trial_aside(tmp_path):
    old = _space(tmp_path, "a.py")
    new = _space(tmp_path, "b.py", low=0.6)
    new_vals, why = new.encode(*_recorded(old, {"opt": 1, "lr": 0.5, "extra": 0}))
    assert new_vals is None and "lr=0.5 lies outside" in why


def test_new_hyperparameter_sets_the_trial_aside(tmp_path):
    old = _space(tmp_path, "a.py")
    new = _space(tmp_path, "b.py", more=', "batch_size": hp.uniform("wd", 0, 1)')
    new_vals, why = new.encode(*_recorded(old, {"opt": 1, "lr": 0.5, "extra": 0}))
    assert new_vals is None and "'wd'" in why


def test_changed_constant_is_caught_by_decoding(tmp_path):
    text = EDITABLE.format(options='["adam", "sgd"]', low=0.0, more=', "batch_size": 32')
    old = load_space_file(write_space(tmp_path / "a.py", text=text))
    new = load_space_file(write_space(tmp_path / "b.py", text=text.replace("32", "64")))
    new_vals, why = new.encode(*_recorded(old, {"opt": 1, "lr": 0.5, "extra": 0}))
    assert new_vals is None and "decodes to other values" in why
    assert "batch_size: 32 trained, 64 here" in why  # the key that changed, named


def test_a_choice_made_constant_keeps_the_trials_that_used_the_constant(tmp_path):
    """Issue 24, finding 1: optimizer turned into the constant it often took."""
    old = _space(tmp_path, "a.py")
    new = load_space_file(write_space(tmp_path / "b.py", text=EDITABLE.format(
        options='["adam", "sgd"]', low=0.0, more="").replace(
        'hp.choice("opt", ["adam", "sgd"])', '"adam"')))
    adam, sgd = {"opt": 0, "lr": 0.5, "extra": 1, "u": 0.25}, {"opt": 1, "lr": 0.5, "extra": 0}
    new_vals, why = new.encode(*_recorded(old, adam))
    assert why == "" and new_vals == {"lr": 0.5, "extra": 1, "u": 0.25}
    assert new.decode(new_vals) == old.decode(adam)
    new_vals, why = new.encode(*_recorded(old, sgd))
    assert new_vals is None and "'opt' is no longer in the space" in why


def test_a_renamed_label_keeps_its_trials(tmp_path):
    old = _space(tmp_path, "a.py")
    new = load_space_file(write_space(tmp_path / "b.py", text=EDITABLE.format(
        options='["adam", "sgd"]', low=0.0, more="").replace('"lr"', '"learning_rate"')))
    vals = {"opt": 1, "lr": 0.5, "extra": 0}
    new_vals, why = new.encode(*_recorded(old, vals))
    assert why == "" and new_vals == {"opt": 1, "learning_rate": 0.5, "extra": 0}


def test_discrete_points_count_nested_options_exactly():
    from hyperopt_nas.space_files import describe_space, discrete_points
    space = load_space_file(ROOT / "search_spaces" / "fashion_mnist_cnn.py")
    # first block 3*2*2, optional second block 1 + 3*2*2, dense 6, lr 2, optimizer 2
    assert len(discrete_points(space.params, 10**6)) == 12 * 13 * 6 * 2 * 2
    text = describe_space(space)
    assert "3,744 distinct combinations" in text
    assert "conv_blocks.1.dropout" in text and "[only if conv_blocks.1={" in text
    assert "dropout_2" not in text  # named by place, as rank names it, not by label


def test_describe_says_continuous_spaces_are_infinite():
    from hyperopt_nas.space_files import describe_space
    text = describe_space(load_space_file(ROOT / "search_spaces" / "cifar100.py"))
    assert "infinitely many combinations" in text
    assert "residual.units" in text and "only if residual=" in text
    assert "loguniform(e^-0.5, e^0.5) = [0.6065, 1.649]" in text


def test_a_decoded_point_is_read_back_into_hyperopts_vals():
    space = load_space_file(ROOT / "search_spaces" / "fashion_mnist_cnn.py")
    one_block = {**space.demo_point, "conv_blocks": [space.demo_point["conv_blocks"][0], None]}
    vals, why = point_vals(space.space, one_block)
    assert why == "" and vals["second_block"] == 0 and "filters_2" not in vals
    assert vals["dense_units"] == 100 and vals["padding_1"] == 1  # "same" is option 1
    assert space.decode(vals) == one_block
    vals, why = point_vals(space.space, {**one_block, "optimizer": "Nadam"})
    assert vals is None and "no option of 'optimizer' fits" in why and "'Nadam'" in why


def test_every_shipped_demo_point_is_a_point_of_its_space():
    for path in SHIPPED:
        space = load_space_file(path)
        if space.demo_point is not None:
            vals, why = point_vals(space.space, space.demo_point)
            assert why == "" and space.decode(vals) == space.demo_point, path.name


START = ('{"hidden_layers": [{"units": 16, "dropout": 0.1}], "activation": "tanh", '
         '"optimizer": "Adam", "learning_rate": 0.01, "batch_size": 32}')


def test_start_points_are_loaded_as_vals(tmp_path):
    path = write_space(tmp_path / "s.py", text=TINY_WITH_START.format(f"[{START}]"))
    space = load_space_file(path)
    [vals] = space.start_vals
    assert vals == {"units": 16, "dropout": 1, "activation": 1, "learning_rate": 0.01}


@pytest.mark.parametrize("points, message", [
    ('{"a": 1}', "START_POINTS must be a list"),
    ("[" + START.replace('"units": 16', '"units": 64') + "]",
     "units=64 lies outside quniform"),
    ("[" + START.replace('"units": 16', '"units": 20') + "]",  # in range, off the step
     "units=20 is not on the step 8 grid of quniform(8, 32, 8)"),
    ("[" + START.replace('"tanh"', '"elu"') + "]", "START_POINTS[0] is not a point of SPACE: "
     "no option of 'activation' fits"),
    ("[" + START.replace('"batch_size": 32', '"batch_size": 64') + "]",
     "batch_size'] is 64, the space has 32 there"),
])
def test_bad_start_points_are_refused_with_the_reason(tmp_path, points, message):
    path = write_space(tmp_path / "s.py", text=TINY_WITH_START.format(points))
    with pytest.raises(SpaceFileError, match=re.escape(message)):
        load_space_file(path)


TINY_WITH_START = """
from hyperopt import Domain, Trials, hp, rand
from hyperopt.pyll import scope

DATASET = "fashion_mnist"
MODEL = "mlp"
DEFAULTS = {{"epochs": 2, "validation_fraction": 0.2, "patience": 2, "max_train_samples": None}}
SPACE = {{
    "hidden_layers": [{{"units": scope.int(hp.quniform("units", 8, 32, 8)),
                       "dropout": hp.choice("dropout", [0.0, 0.1])}}],
    "activation": hp.choice("activation", ["relu", "tanh"]),
    "optimizer": "Adam",
    "learning_rate": hp.loguniform("learning_rate", -6, -3),
    "batch_size": 32,
}}
START_POINTS = {}
"""


@pytest.mark.parametrize("defaults, message", [
    ('{"epochs": "ten"}', r"DEFAULTS\['epochs'\] must be a whole number"),
    ('[("epochs", 3)]', "DEFAULTS must be a dict"),
    ('{"validation_fraction": 1.5}', r"validation_fraction'\] must be a number between 0 and 1"),
    ('{"max_train_samples": -5}', r"max_train_samples'\] must be a positive whole number"),
    ('{"max_params": 0.5}', r"max_params'\] must be a whole number of parameters"),
    ('{"max_latency_ms": 0}', r"max_latency_ms'\] must be more than 0 ms"),
    ('{"size_weight": -1}', r"size_weight'\] must be a number at least 0"),
    ('{"max_paramz": 5}', "max_paramz"),
])
def test_bad_defaults_are_refused_at_load(tmp_path, defaults, message):
    """Finding 6 of the hostile test: these failed mid-search with a traceback."""
    text = f"""
        from hyperopt import hp
        SPACE = {{"learning_rate": hp.uniform("a", 0, 1)}}
        DATASET, MODEL, DEFAULTS = "mnist", "mlp", {defaults}
    """
    with pytest.raises(SpaceFileError, match=message):
        load_space_file(write_space(tmp_path / "s.py", text=text))


@pytest.mark.parametrize("assignment, message", [
    ('DATASET = ["mnist"]', "DATASET must be a name in quotes"),
    ('SPACE = {"learning_rate": hp.uniform("a", 0, 1), "batch_size": hp.choice("a", [1, 2])}',
     "the label a is given to two hyperparameters"),
])
def test_bad_names_and_duplicate_labels_are_refused_at_load(tmp_path, assignment, message):
    text = f"""
        from hyperopt import hp
        SPACE = {{"learning_rate": hp.uniform("a", 0, 1)}}
        DATASET, MODEL, DEFAULTS = "mnist", "mlp", {{}}
        {assignment}
    """
    with pytest.raises(SpaceFileError, match=message):
        load_space_file(write_space(tmp_path / "s.py", text=text))


NESTED = """
from hyperopt import Domain, Trials, hp, rand
DATASET, MODEL, DEFAULTS = "mnist", "mlp", {{}}
SPACE = {{"hidden_layers": hp.choice("layers", [
    [{{"units": 8}}],
    [{{"units": 8, "dropout": hp.choice("dropout", {dropouts})}}]])}}
"""


def test_reordering_a_nested_choice_keeps_the_trials(tmp_path):
    """Finding 3 of the hostile test: the enclosing option's signature embedded the nested
    choice's options in order, so reordering them dropped every trial."""
    old = load_space_file(write_space(tmp_path / "a.py",
                                      text=NESTED.format(dropouts="[0.0, 0.1, 0.2]")))
    new = load_space_file(write_space(tmp_path / "b.py",
                                      text=NESTED.format(dropouts="[0.2, 0.0, 0.1]")))
    assert old.fingerprint != new.fingerprint  # the edit is seen ...
    for vals in ({"layers": 0}, {"layers": 1, "dropout": 0}, {"layers": 1, "dropout": 2}):
        new_vals, why = new.encode(*_recorded(old, vals))
        assert why == "", why  # ... and every trial still fits, at its real option
        assert new.decode(new_vals) == old.decode(vals)
    assert new.encode(*_recorded(old, {"layers": 1, "dropout": 1}))[0]["dropout"] == 2


def test_records_of_earlier_versions_still_match_their_options(tmp_path):
    space = load_space_file(write_space(tmp_path / "a.py",
                                        text=NESTED.format(dropouts="[0.0, 0.1]")))
    vals = {"layers": 1, "dropout": 1}
    older = {"layers": space.params["layers"].older_options[1], "dropout": "0.1"}
    assert "switch(" in older["layers"]  # the nested options, as earlier versions wrote them
    assert space.encode(vals, older, space.decode(vals)) == (vals, "")


@pytest.mark.parametrize("space, key, known", [
    ('{"hidden_layers": [{"units": 8}], "learnign_rate": hp.choice("lr", [0.1, 0.01])}',
     "'learnign_rate'", "activation, batch_size, hidden_layers, learning_rate, optimizer"),
    ('{"hidden_layers": [{"units": 8}, hp.choice("more", [None, [{"units": 8, "dropotu": 0.1}]])]}',
     "'hidden_layers[].dropotu'", "activation, dropout, repeat, units"),
])
def test_a_key_the_model_does_not_read_is_refused_at_load(tmp_path, space, key, known):
    """Finding 5: a misspelt key was recorded, but every trial trained at the default."""
    text = f"""
        from hyperopt import hp
        DATASET, MODEL, DEFAULTS = "fashion_mnist", "mlp", {{}}
        SPACE = {space}
    """
    expected = (re.escape(f"SPACE has the key {key}, which the mlp model does not read") + ".*"
                + re.escape(f"it reads there: {known}"))
    with pytest.raises(SpaceFileError, match=expected):
        load_space_file(write_space(tmp_path / "s.py", text=text))


def test_a_point_that_no_longer_fits_after_renames_names_every_label_that_went(tmp_path):
    """Issue 36: the set-aside message named the first missing label it met, not the one the
    user had renamed (with the options changed too, the point cannot be carried by value)."""
    old = _space(tmp_path, "a.py")
    new = load_space_file(write_space(tmp_path / "b.py", text=EDITABLE.format(
        options='["adam", "rmsprop"]', low=0.0, more="").replace('"opt"', '"optimizer"')
        .replace('"lr"', '"learning_rate"')))
    new_vals, why = new.encode(*_recorded(old, {"opt": 1, "lr": 0.5, "extra": 0}))
    assert new_vals is None
    assert why == "hyperparameters 'opt', 'lr' are no longer in the space"
