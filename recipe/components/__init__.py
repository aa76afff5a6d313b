"""Building blocks the recipe's command-line entry points compose: configuration, batching, the Trainer
subclass and its callbacks, inference, metrics, plots and Hub upload."""
