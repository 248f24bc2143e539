"""The catalogue of model families (hyperopt_nas/families.py) agrees with neural_net.py."""


def test_the_catalogue_names_every_family_neural_net_builds():
    import neural_net
    from hyperopt_nas import families
    assert set(neural_net.MODEL_BUILDERS) == set(families.MODELS) == set(families.MODEL_KEYS)
    assert set(families.CONV_MODELS) <= set(families.MODELS)
