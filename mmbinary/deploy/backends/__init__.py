"""Back ends of the deploy converter: OpenVINO IR, ONNX and the packed file.

Each back end module imports its runtime package lazily (:func:`mmbinary.deploy.utils.require`),
so ``mmbinary`` imports without them and a missing one is named with the pip command.
"""
