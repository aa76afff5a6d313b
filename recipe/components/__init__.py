"""The recipe's library; the command-line modules of `recipe` only parse options and compose these: configuration,
model building and loading, the Trainer's assembly, the training run and its output folder (run_folder), batching,
callbacks, inference, prediction, evaluation, metrics, plots, ONNX export and Hub upload, training techniques,
ensembles, speaker normalisation and the cross-corpus protocol. Nothing here imports a command-line module."""
