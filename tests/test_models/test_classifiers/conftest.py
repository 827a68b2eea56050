import mmbinary  # noqa: F401  (registers mmbinary's classifiers in mmpretrain's scope)
