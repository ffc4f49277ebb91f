from cae_tutorial.quiet import import_tensorflow as _import_tensorflow

_import_tensorflow()  # first, before anything imports TensorFlow: no C++ start-up log lines in notebooks or terminals
