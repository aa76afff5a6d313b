"""The embedded demo: a synthetic emotional-speech corpus (`python -m demo.corpus`) and the demo's last step,
a check that the trained folder works through `transformers.pipeline` (`python -m demo.pipeline`).

It uses `data_prep` and `recipe` like any user of them would; neither imports it."""
