"""The choices of the search's options, defined once: the modules that act on them and the
command line (which imports only this light module to build its parser) read them here."""

ALGORITHMS = ("tpe", "rand", "anneal", "atpe", "grid")  # --algo (proposers/)
ISOLATIONS = ("process", "none")  # --isolation (executors/)
BACKENDS = ("local", "spark")  # --backend
SCHEDULES = ("none", "hyperband", "asha")  # --schedule (schedulers/)
PRUNE_RULES = ("none", "median", "percentile")  # --prune (schedulers/pruning.py)
PROGRESS_MODES = ("auto", "live", "lines", "off")  # --progress (console.py)
ACCELERATOR_MODES = ("auto", "on", "off")  # --mixed-precision, --xla (neural_net.py)
