"""The recipe's library; the command-line modules of `recipe` only parse options and compose these: configuration,
model building and loading, the Trainer's assembly and the training run, batching, callbacks, inference,
prediction, evaluation, metrics, plots, ONNX export and Hub upload. Nothing here imports a command-line module."""
