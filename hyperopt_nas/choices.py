"""The choices of the search's options, defined once: the modules that act on them and the
command line (which imports only this light module to build its parser) read them here."""

ALGORITHMS = ("tpe", "rand", "anneal", "atpe", "grid")  # --algo (proposers/)
ISOLATIONS = ("process", "none")  # --isolation (executors/)
EXECUTORS = ("local", "spark")  # --executor (formerly --backend): where trials run
BACKENDS = EXECUTORS  # the name before --keras-backend
KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # --keras-backend (runtime/): what trains
SCHEDULES = ("none", "hyperband", "asha")  # --schedule (schedulers/)
PRUNE_RULES = ("none", "median", "percentile")  # --prune (schedulers/pruning.py)
PROGRESS_MODES = ("auto", "live", "lines", "off")  # --progress (console.py)
ACCELERATOR_MODES = ("auto", "on", "off")  # --xla (runtime/)
PRECISION_MODES = ("auto", "on", "off", "float16", "bfloat16")  # --mixed-precision; on: float16
